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

const (
	typeFormatDescription = 15
	typeQuery             = 2
	typeRotate            = 4
)

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
	tags := Tags("mysql-bin.000002", info, true)
	for _, tag := range tags {
		if strings.Contains(tag, ",") {
			t.Fatalf("tag %q holds a comma, which restic's --tag splits", tag)
		}
	}
	s, ok := FromTags(append([]string{"namespace=demo"}, tags...))
	if !ok {
		t.Fatalf("FromTags(%v) did not read them", tags)
	}
	if s.File != "mysql-bin.000002" || !s.First.Equal(info.First) || !s.Last.Equal(info.Last) || !s.Begin.Equal(begin) || !s.End.Equal(end) || !s.Gap {
		t.Fatalf("FromTags = %+v, want the file's facts", s)
	}
	if _, ok := FromTags([]string{"namespace=demo", "target=AppBinding/shop"}); ok {
		t.Fatal("a dump's tags read as a binary log's")
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
