package binlog

import (
	"strings"
	"time"
)

// Tag marks a snapshot that holds one binary log file. The file's facts follow in tags of
// the form key=value (restic tags hold no commas, so a GTID state's commas become '+').
const Tag = "binlog"

const (
	tagFile  = "binlog-file="
	tagFirst = "binlog-first="
	tagLast  = "binlog-last="
	tagBegin = "binlog-begin="
	tagEnd   = "binlog-end="
	// TagGap marks a file that does not start where the file shipped before it ended: the
	// binary logs between them are missing.
	TagGap = "binlog-gap"
	// TagPartial marks the start of a file the server was still writing when it was shipped
	// (streaming): every whole transaction in it so far. A later snapshot of the same file
	// supersedes it.
	TagPartial = "binlog-partial"
)

// Shipped is what the tags of a binary log's snapshot say of it.
type Shipped struct {
	File        string
	First, Last time.Time
	Begin, End  State
	// Gap: the binary logs between the file shipped before this one and this one are missing.
	Gap bool
	// Partial: the snapshot holds the file's start only (TagPartial).
	Partial bool
}

// Supersedes tells whether s is a later snapshot of the same file as o: the same name, start
// state and first event (the file's creation), and every transaction o holds. The first
// event tells apart files of one name from before and after a reset, which can both start
// from an empty state.
func (s Shipped) Supersedes(o Shipped) bool {
	if s.File != o.File || !s.Begin.Equal(o.Begin) || !s.First.Equal(o.First) {
		return false
	}
	for d, g := range o.End {
		if e, ok := s.End[d]; !ok || e.Server != g.Server && e.Seq == g.Seq || e.Seq < g.Seq {
			return false
		}
	}
	return true
}

// Tags are the tags of the snapshot of file, read as info; partial for the start of a file
// still written to.
func Tags(file string, info *Info, gap, partial bool) []string {
	t := []string{
		Tag,
		tagFile + file,
		tagFirst + info.First.UTC().Format(time.RFC3339),
		tagLast + info.Last.UTC().Format(time.RFC3339),
		tagBegin + strings.ReplaceAll(info.Begin.String(), ",", "+"),
		tagEnd + strings.ReplaceAll(info.End.String(), ",", "+"),
	}
	if gap {
		t = append(t, TagGap)
	}
	if partial {
		t = append(t, TagPartial)
	}
	return t
}

// FromTags reads the tags of a binary log's snapshot; ok is false for other snapshots.
func FromTags(tags []string) (s Shipped, ok bool) {
	var err error
	for _, t := range tags {
		switch {
		case t == Tag:
			ok = true
		case t == TagGap:
			s.Gap = true
		case t == TagPartial:
			s.Partial = true
		case strings.HasPrefix(t, tagFile):
			s.File = strings.TrimPrefix(t, tagFile)
		case strings.HasPrefix(t, tagFirst):
			s.First, err = time.Parse(time.RFC3339, strings.TrimPrefix(t, tagFirst))
		case strings.HasPrefix(t, tagLast):
			s.Last, err = time.Parse(time.RFC3339, strings.TrimPrefix(t, tagLast))
		case strings.HasPrefix(t, tagBegin):
			s.Begin, err = ParseState(strings.ReplaceAll(strings.TrimPrefix(t, tagBegin), "+", ","))
		case strings.HasPrefix(t, tagEnd):
			s.End, err = ParseState(strings.ReplaceAll(strings.TrimPrefix(t, tagEnd), "+", ","))
		}
		if err != nil {
			return Shipped{}, false
		}
	}
	return s, ok && s.File != "" && s.Begin != nil && s.End != nil
}
