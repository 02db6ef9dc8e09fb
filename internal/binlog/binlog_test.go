package binlog

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// event encodes one version 4 event: the header, then body, then a CRC32 placeholder (the
// reader does not check it).
func event(ts int64, typ byte, server uint32, body []byte) []byte {
	size := headerSize + len(body) + 4
	b := make([]byte, headerSize, size)
	binary.LittleEndian.PutUint32(b[0:4], uint32(ts))
	b[4] = typ
	binary.LittleEndian.PutUint32(b[5:9], server)
	binary.LittleEndian.PutUint32(b[9:13], uint32(size))
	b = append(b, body...)
	return append(b, 0, 0, 0, 0)
}

func gtidListBody(list ...GTID) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(list)))
	for _, g := range list {
		b = binary.LittleEndian.AppendUint32(b, g.Domain)
		b = binary.LittleEndian.AppendUint32(b, g.Server)
		b = binary.LittleEndian.AppendUint64(b, g.Seq)
	}
	return b
}

func gtidBody(seq uint64, domain uint32) []byte {
	b := binary.LittleEndian.AppendUint64(nil, seq)
	b = binary.LittleEndian.AppendUint32(b, domain)
	return append(b, 0)
}

func file(events ...[]byte) []byte {
	return bytes.Join(append([][]byte{magic[:]}, events...), nil)
}

const typeFormatDescription = 15

func TestRead(t *testing.T) {
	f := file(
		event(1000, typeFormatDescription, 7, make([]byte, 40)),
		// Domain 0 was last written by server 7 at 12 (server 3's 9 is older); domain 1 by 7 at 4.
		event(1000, typeGTIDList, 7, gtidListBody(GTID{0, 3, 9}, GTID{0, 7, 12}, GTID{1, 7, 4})),
		event(1001, typeGTID, 7, gtidBody(13, 0)),
		event(1001, typeQuery, 7, []byte("INSERT …")),
		event(1005, typeGTID, 8, gtidBody(14, 0)),
		event(1005, typeQuery, 8, []byte("INSERT …")),
		event(1009, typeRotate, 7, []byte("mysql-bin.000002")),
	)
	info, err := Read(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1000, 0).UTC(); !info.First.Equal(want) {
		t.Errorf("First = %s, want %s", info.First, want)
	}
	if want := time.Unix(1009, 0).UTC(); !info.Last.Equal(want) {
		t.Errorf("Last = %s, want %s", info.Last, want)
	}
	if info.Events != 7 || info.Transactions != 2 {
		t.Errorf("events %d, transactions %d; want 7 and 2", info.Events, info.Transactions)
	}
	if got := info.Begin.String(); got != "0-7-12,1-7-4" {
		t.Errorf("Begin = %s, want 0-7-12,1-7-4", got)
	}
	if got := info.End.String(); got != "0-8-14,1-7-4" {
		t.Errorf("End = %s, want 0-8-14,1-7-4", got)
	}
	if len(info.Servers) != 2 || info.Servers[0] != 7 || info.Servers[1] != 8 {
		t.Errorf("Servers = %v, want [7 8]", info.Servers)
	}
}

func TestReadRefuses(t *testing.T) {
	fde := event(1000, typeFormatDescription, 7, make([]byte, 40))
	list := event(1000, typeGTIDList, 7, gtidListBody())
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not a binary log": {[]byte("-- MySQL dump"), "not a binary log"},
		"empty":            {file(), "holds no event"},
		"no GTID list":     {file(fde), "no GTID list"},
		"encrypted":        {file(fde, list, event(1000, typeStartEncryption, 7, make([]byte, 20))), "encrypted"},
		"truncated":        {file(fde, list)[:60], "truncated"},
		"short GTID event": {file(fde, list, event(1000, typeGTID, 7, []byte{1, 2})), "GTID"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestState(t *testing.T) {
	st, err := ParseState("1-7-4, 0-7-12")
	if err != nil {
		t.Fatal(err)
	}
	if st.String() != "0-7-12,1-7-4" {
		t.Errorf("String() = %s", st)
	}
	other, _ := ParseState("0-7-12,1-7-4")
	if !st.Equal(other) {
		t.Errorf("%s and %s are not equal", st, other)
	}
	if moved, _ := ParseState("0-7-13,1-7-4"); st.Equal(moved) {
		t.Errorf("%s equals %s", st, moved)
	}
	if empty, _ := ParseState(""); len(empty) != 0 || st.Equal(empty) || !empty.Equal(State{}) {
		t.Errorf("the empty state is %v", empty)
	}
	for _, bad := range []string{"0-7", "a-7-1", "0-7-1-2"} {
		if _, err := ParseState(bad); err == nil {
			t.Errorf("ParseState(%q) took it", bad)
		}
	}
}

func TestTagsRoundTrip(t *testing.T) {
	begin, _ := ParseState("0-7-12,1-7-4")
	end, _ := ParseState("0-7-20,1-7-4")
	info := &Info{First: time.Unix(1000, 0).UTC(), Last: time.Unix(1009, 0).UTC(), Begin: begin, End: end}
	tags := Tags("mysql-bin.000002", info, true, true)
	for _, tag := range tags {
		if strings.Contains(tag, ",") {
			t.Fatalf("tag %q holds a comma, which restic's --tag splits", tag)
		}
	}
	s, ok := FromTags(append([]string{"namespace=demo"}, tags...))
	if !ok {
		t.Fatalf("FromTags(%v) did not read them", tags)
	}
	if s.File != "mysql-bin.000002" || !s.First.Equal(info.First) || !s.Last.Equal(info.Last) || !s.Begin.Equal(begin) || !s.End.Equal(end) || !s.Gap || !s.Partial {
		t.Fatalf("FromTags = %+v, want the file's facts", s)
	}
	if _, ok := FromTags([]string{"namespace=demo", "target=AppBinding/shop"}); ok {
		t.Fatal("a dump's tags read as a binary log's")
	}
	if s, _ := FromTags(Tags("mysql-bin.000002", info, false, false)); s.Gap || s.Partial {
		t.Fatalf("FromTags = %+v, want no gap and a whole file", s)
	}
}

func TestSupersedes(t *testing.T) {
	state := func(v string) State {
		st, err := ParseState(v)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	created := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	start := Shipped{File: "mysql-bin.000002", First: created, Begin: state("0-7-12"), End: state("0-7-15"), Partial: true}
	for _, tc := range []struct {
		name  string
		later Shipped
		want  bool
	}{
		{"more of the file", Shipped{File: start.File, First: created, Begin: start.Begin, End: state("0-7-20")}, true},
		{"the same start again", start, true},
		{"a new domain", Shipped{File: start.File, First: created, Begin: start.Begin, End: state("0-7-15,1-7-1")}, true},
		{"another file", Shipped{File: "mysql-bin.000003", First: created, Begin: start.Begin, End: state("0-7-20")}, false},
		{"another start (the logs were reset)", Shipped{File: start.File, First: created, Begin: state(""), End: state("0-7-20")}, false},
		{"created later (reset, from the same state)", Shipped{File: start.File, First: created.Add(time.Hour), Begin: start.Begin, End: state("0-7-20")}, false},
		{"fewer transactions", Shipped{File: start.File, First: created, Begin: start.Begin, End: state("0-7-14")}, false},
		{"another server's history", Shipped{File: start.File, First: created, Begin: start.Begin, End: state("0-8-15")}, false},
		{"a domain missing", Shipped{File: start.File, First: created, Begin: start.Begin, End: state("1-7-30")}, false},
	} {
		if got := tc.later.Supersedes(start); got != tc.want {
			t.Errorf("%s: Supersedes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestScanOffsets(t *testing.T) {
	events := [][]byte{
		event(1000, typeFormatDescription, 7, make([]byte, 40)),
		event(1000, typeGTIDList, 7, gtidListBody(GTID{0, 7, 12})),
		event(1001, typeGTID, 7, gtidBody(13, 0)),
		event(1002, typeQuery, 7, []byte("INSERT …")),
	}
	var got []Event
	if err := Scan(bytes.NewReader(file(events...)), func(e *Event) error {
		got = append(got, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	offset := int64(len(magic))
	for i, e := range got {
		if e.Offset != offset || e.End != offset+int64(len(events[i])) {
			t.Errorf("event %d at %d…%d, want %d…%d", i, e.Offset, e.End, offset, offset+int64(len(events[i])))
		}
		offset = e.End
	}
	if len(got) != 4 || got[1].List == nil || got[2].GTID == nil || *got[2].GTID != (GTID{0, 7, 13}) || got[3].GTID != nil {
		t.Fatalf("events %+v: want a GTID list, then GTID 0-7-13, then a query", got)
	}
	if !got[3].Time.Equal(time.Unix(1002, 0)) {
		t.Errorf("the query's time = %s", got[3].Time)
	}
}

// queryBody is a Query event's body for statement q, in database db.
func queryBody(db, q string) []byte {
	b := make([]byte, queryPostHeader)
	b[8] = byte(len(db))
	binary.LittleEndian.PutUint16(b[11:13], 3)
	b = append(b, 1, 2, 3) // status variables
	b = append(append(b, db...), 0)
	return append(b, q...)
}

func TestReadComplete(t *testing.T) {
	standalone := gtidBody(3, 0)
	standalone[12] = gtidStandalone
	head := [][]byte{
		event(1000, typeFormatDescription, 7, make([]byte, 40)),
		event(1000, typeGTIDList, 7, gtidListBody(GTID{0, 7, 1})),
	}
	xid := [][]byte{ // a transactional one, ended by an XID event
		event(1001, typeGTID, 7, gtidBody(2, 0)),
		event(1001, typeQuery, 7, queryBody("shop", "BEGIN")),
		event(1001, 30, 7, make([]byte, 20)), // rows
		event(1001, typeXID, 7, make([]byte, 8)),
	}
	ddl := [][]byte{ // a DDL statement, a transaction of its own
		event(1002, typeGTID, 7, standalone),
		event(1002, typeQuery, 7, queryBody("shop", "CREATE TABLE t (id INT)")),
	}
	commit := [][]byte{ // non-transactional changes, ended by a COMMIT statement
		event(1003, typeGTID, 7, gtidBody(4, 0)),
		event(1003, typeQuery, 7, queryBody("", "BEGIN")),
		event(1003, typeQuery, 7, queryBody("shop", "INSERT INTO m VALUES (1)")),
		event(1003, typeQuery, 7, queryBody("", "COMMIT")),
	}
	open := [][]byte{
		event(1004, typeGTID, 7, gtidBody(5, 0)),
		event(1004, typeQuery, 7, queryBody("shop", "BEGIN")),
		event(1004, 30, 7, make([]byte, 20)),
	}
	size := func(parts ...[][]byte) int64 {
		var evs [][]byte
		for _, p := range parts {
			evs = append(evs, p...)
		}
		return int64(len(file(evs...)))
	}
	whole := size(head, xid, ddl, commit)
	var all [][]byte
	for _, p := range [][][]byte{head, xid, ddl, commit, open} {
		all = append(all, p...)
	}
	f := file(all...)
	rotate := event(1005, typeRotate, 7, []byte("mysql-bin.000002"))
	for _, tc := range []struct {
		name   string
		data   []byte
		want   int64
		closed bool
	}{
		{"only the header", file(head...), size(head), false},
		{"an XID ends a transaction", file(append(append([][]byte{}, head...), xid...)...), size(head, xid), false},
		{"a transaction without its XID yet", file(append(append([][]byte{}, head...), xid[:3]...)...), size(head), false},
		{"a DDL statement is whole with its query", file(append(append(append([][]byte{}, head...), xid...), ddl...)...), size(head, xid, ddl), false},
		{"COMMIT ends a transaction; an open one is left out", f, whole, false},
		{"an event cut short is left out", f[:len(f)-5], whole, false},
		{"a header cut short is left out", f[:whole+7], whole, false},
		{"an empty file, just created", nil, 0, false},
		{"a file with half its header", magic[:2], 0, false},
		{"a rotate event closes the file", append(append([]byte{}, f...), rotate...), int64(len(f) + len(rotate)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadComplete(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if c.Size != tc.want || c.Closed != tc.closed {
				t.Errorf("ReadComplete = %+v, want size %d, closed %v", c, tc.want, tc.closed)
			}
		})
	}
	if _, err := ReadComplete(bytes.NewReader([]byte("not a binlog"))); err == nil {
		t.Error("ReadComplete of a file that is not a binary log succeeded")
	}
}
