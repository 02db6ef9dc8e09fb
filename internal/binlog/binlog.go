// Package binlog reads what point-in-time recovery needs to know of a MariaDB binary log
// file, from the file itself: when its events were written, which servers wrote them, and the
// GTID state it starts from and ends at. Two files follow each other without a gap exactly
// when the second starts from the state the first ended at.
//
// Only the event headers and two MariaDB event bodies (GTID and GTID list) are read; the
// format is the binary log's version 4, which every MariaDB and MySQL since 5.0 writes.
package binlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Magic starts every binary log file.
var magic = [4]byte{0xfe, 'b', 'i', 'n'}

// Event types read here (MariaDB's numbering for the GTID events).
const (
	typeQuery           = 2
	typeStop            = 3
	typeRotate          = 4
	typeXID             = 16
	typeStartEncryption = 164
	typeGTID            = 162
	typeGTIDList        = 163
)

// gtidStandalone is the GTID event flag of a statement that is a transaction of its own (DDL):
// one Query event follows, and no COMMIT.
const gtidStandalone = 1

// queryPostHeader is the size of a Query event's fixed part: thread id, execution time,
// database name length, error code and status variables' length.
const queryPostHeader = 13

// ErrTruncated marks a file that ends inside an event: one still being written.
var ErrTruncated = errors.New("the binary log ends inside an event")

const headerSize = 19

// GTID is a MariaDB global transaction id, domain-server-sequence.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

func (g GTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// State is a GTID position: the last transaction of each replication domain.
type State map[uint32]GTID

// String is the position in MariaDB's form ("0-7-120,1-7-4"), domains in order; empty for
// an empty state.
func (s State) String() string {
	domains := make([]uint32, 0, len(s))
	for d := range s {
		domains = append(domains, d)
	}
	sort.Slice(domains, func(i, j int) bool { return domains[i] < domains[j] })
	parts := make([]string, 0, len(domains))
	for _, d := range domains {
		parts = append(parts, s[d].String())
	}
	return strings.Join(parts, ",")
}

// Equal tells whether two states name the same transactions.
func (s State) Equal(o State) bool {
	if len(s) != len(o) {
		return false
	}
	for d, g := range s {
		if o[d] != g {
			return false
		}
	}
	return true
}

// ParseState reads a position in MariaDB's form; an empty string is an empty state.
func ParseState(v string) (State, error) {
	st := State{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return nil, fmt.Errorf("%q is not a GTID (domain-server-sequence)", part)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		srv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%q is not a GTID (domain-server-sequence): %w", part, err)
		}
		st[uint32(d)] = GTID{Domain: uint32(d), Server: uint32(srv), Seq: seq}
	}
	return st, nil
}

// Info is what a binary log file holds.
type Info struct {
	// First and Last are the timestamps of its first and last events (to the second: the
	// binary log keeps no finer time).
	First, Last time.Time
	// Events is the number of events.
	Events int
	// Transactions is the number of GTID events: transactions and DDL statements.
	Transactions int
	// Servers are the server ids that wrote its events, in order.
	Servers []uint32
	// Begin is the GTID state the file starts from (its GTID list event), End the state after
	// its last transaction.
	Begin, End State
}

// ReadFile reads the binary log file at path.
func ReadFile(path string) (*Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := Read(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("binary log %s: %w", path, err)
	}
	return info, nil
}

// Read reads a binary log file from r.
func Read(r io.Reader) (*Info, error) {
	info := &Info{Begin: State{}, End: State{}}
	servers := map[uint32]bool{}
	gotList := false
	err := Scan(r, func(e *Event) error {
		info.Events++
		if info.Events == 1 {
			info.First = e.Time
		}
		if e.Time.After(info.Last) {
			info.Last = e.Time
		}
		if !servers[e.Server] {
			servers[e.Server] = true
			info.Servers = append(info.Servers, e.Server)
		}
		switch {
		case e.List != nil && !gotList:
			gotList = true
			for _, g := range e.List {
				if cur, ok := info.Begin[g.Domain]; !ok || g.Seq > cur.Seq {
					info.Begin[g.Domain] = g
				}
			}
			for d, g := range info.Begin {
				info.End[d] = g
			}
		case e.GTID != nil:
			info.End[e.GTID.Domain] = *e.GTID
			info.Transactions++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if info.Events == 0 {
		return nil, errors.New("the binary log holds no event")
	}
	if !gotList {
		return nil, errors.New("the binary log has no GTID list event: it was not written by MariaDB 10.0 or later")
	}
	return info, nil
}

// Event is one event of a binary log file: where it lies, its header, and what the two
// events read here say.
type Event struct {
	// Offset is where the event starts in the file, End where the next one starts: the
	// positions mysqlbinlog's --start-position and --stop-position take.
	Offset, End int64
	Type        byte
	// Time is the event's timestamp, to the second.
	Time   time.Time
	Server uint32
	// GTID is set for a GTID event (a transaction's or DDL statement's first), List for a
	// GTID list event.
	GTID *GTID
	List []GTID
	// Standalone is set for a GTID event whose transaction is one statement (DDL).
	Standalone bool
	// Commit is set for an event that ends a transaction: an XID event, or a Query event of
	// COMMIT or ROLLBACK.
	Commit bool
}

// Scan calls fn for each event of a binary log file read from r, in order, and stops with
// fn's error. An encrypted file is refused.
func Scan(r io.Reader, fn func(*Event) error) error {
	var m [4]byte
	if _, err := io.ReadFull(r, m[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("no binary log header: %w: %w", ErrTruncated, err)
		}
		return fmt.Errorf("no binary log header: %w", err)
	}
	if m != magic {
		return errors.New("not a binary log file (its first bytes are not 0xfe 'bin')")
	}
	var h [headerSize]byte
	var body []byte
	offset := int64(len(magic))
	for n := 1; ; n++ {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("event %d: %w: truncated header: %w", n, ErrTruncated, err)
		}
		e := &Event{
			Offset: offset,
			Time:   time.Unix(int64(binary.LittleEndian.Uint32(h[0:4])), 0).UTC(),
			Type:   h[4],
			Server: binary.LittleEndian.Uint32(h[5:9]),
		}
		size := binary.LittleEndian.Uint32(h[9:13])
		if size < headerSize {
			return fmt.Errorf("event %d: size %d is shorter than its header", n, size)
		}
		e.End = offset + int64(size)
		offset = e.End
		bodySize := int(size) - headerSize
		if cap(body) < bodySize {
			body = make([]byte, bodySize)
		}
		body = body[:bodySize]
		if _, err := io.ReadFull(r, body); err != nil {
			return fmt.Errorf("event %d: %w: truncated body (%d bytes): %w", n, ErrTruncated, bodySize, err)
		}
		switch e.Type {
		case typeStartEncryption:
			return errors.New("the binary log is encrypted (encrypt_binlog): its events cannot be read for point-in-time recovery")
		case typeGTIDList:
			list, err := gtidList(body)
			if err != nil {
				return fmt.Errorf("event %d (GTID list): %w", n, err)
			}
			e.List = list
		case typeGTID:
			if len(body) < 12 {
				return fmt.Errorf("event %d (GTID): body of %d bytes", n, len(body))
			}
			e.GTID = &GTID{Seq: binary.LittleEndian.Uint64(body[0:8]), Domain: binary.LittleEndian.Uint32(body[8:12]), Server: e.Server}
			e.Standalone = len(body) > 12 && body[12]&gtidStandalone != 0
		case typeXID:
			e.Commit = true
		case typeQuery:
			e.Commit = endsTransaction(body)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// endsTransaction tells whether a Query event's statement is COMMIT or ROLLBACK, which end a
// transaction whose changes are not all transactional (no XID event then).
func endsTransaction(body []byte) bool {
	if len(body) < queryPostHeader {
		return false
	}
	dbLen := int(body[8])
	statusLen := int(binary.LittleEndian.Uint16(body[11:13]))
	at := queryPostHeader + statusLen + dbLen + 1
	if at > len(body) {
		return false
	}
	q := body[at:]
	return bytes.HasPrefix(q, []byte("COMMIT")) || bytes.HasPrefix(q, []byte("ROLLBACK"))
}

// Complete is the part of a binary log file, possibly still being written, that holds only
// whole transactions.
type Complete struct {
	// Size is where the last whole transaction (or the last event outside any transaction)
	// ends: the file's first Size bytes can be replayed without a transaction torn apart.
	Size int64
	// Closed: the file ends with a rotate or stop event; the server writes nothing more to it.
	Closed bool
}

// ReadComplete reads a binary log file that may still be written to, up to its last whole
// event, and finds the end of its last whole transaction.
func ReadComplete(r io.Reader) (Complete, error) {
	var (
		c          Complete
		open       bool
		standalone bool
	)
	err := Scan(r, func(e *Event) error {
		switch {
		case e.GTID != nil:
			// A transaction starts: the one before has ended, however it ended.
			if c.Size < e.Offset {
				c.Size = e.Offset
			}
			open, standalone = true, e.Standalone
			return nil
		case open && (e.Commit || standalone && e.Type == typeQuery):
			open = false
		case e.Type == typeRotate || e.Type == typeStop:
			// The server writes nothing after them: the file is whole.
			c.Closed, open = true, false
		}
		if !open {
			c.Size = e.End
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrTruncated) {
		return Complete{}, err
	}
	return c, nil
}

// gtidList decodes a GTID list event's body: a count (its low 28 bits), then a domain,
// server and sequence number per entry.
func gtidList(body []byte) ([]GTID, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("body of %d bytes", len(body))
	}
	count := int(binary.LittleEndian.Uint32(body[0:4]) & 0x0fffffff)
	if len(body) < 4+16*count {
		return nil, fmt.Errorf("%d entries in a body of %d bytes", count, len(body))
	}
	list := make([]GTID, count)
	for i := range list {
		e := body[4+16*i:]
		list[i] = GTID{
			Domain: binary.LittleEndian.Uint32(e[0:4]),
			Server: binary.LittleEndian.Uint32(e[4:8]),
			Seq:    binary.LittleEndian.Uint64(e[8:16]),
		}
	}
	return list, nil
}
