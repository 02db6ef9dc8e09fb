package addon

import (
	"context"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/dumpfacts"
	"github.com/hoard-operator/hoard/internal/sqldump"
)

// TestChecksumsComparable: records that cannot give comparable checksums say why, before the
// scratch server is asked anything; options that would send its credentials elsewhere are
// never run.
func TestChecksumsComparable(t *testing.T) {
	full := dumpfacts.Facts{Checksum: sqldump.RowsChecksum, Server: "10.11.19-MariaDB", DumpArgs: []string{"--single-transaction", "--all-databases"}}
	for name, tc := range map[string]struct {
		edit func(f *dumpfacts.Facts)
		want string
	}{
		"an older record":       {func(f *dumpfacts.Facts) { f.Checksum = "" }, "recorded no checksums"},
		"another algorithm":     {func(f *dumpfacts.Facts) { f.Checksum = "md5" }, `"md5"`},
		"uncounted INSERTs":     {func(f *dumpfacts.Facts) { f.Uncounted = 1 }, "not of literal rows"},
		"no options":            {func(f *dumpfacts.Facts) { f.DumpArgs = nil }, "did not record"},
		"a host in the options": {func(f *dumpfacts.Facts) { f.DumpArgs = append(f.DumpArgs, "--host=evil.example") }, "options are refused"},
	} {
		f := full
		f.DumpArgs = append([]string{}, full.DumpArgs...)
		tc.edit(&f)
		s := &session{}
		if got := s.checksumsComparable(context.Background(), nil, &f); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want it to say %q", name, got, tc.want)
		}
	}
}

func TestSameServerVersion(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"10.11.19-MariaDB", "10.11.19-MariaDB", true},
		{"10.11.19-MariaDB-log", "10.11.19-MariaDB", true},
		{"10.11.19-MariaDB-0+deb12u1-log", "10.11.19-MariaDB-0+deb12u1", true},
		{"10.11.19-MariaDB", "10.11.1", false},
		{"10.11.1", "10.11.19-MariaDB", false},
		{"10.11.19-MariaDB-ubu2204", "10.11.19-MariaDB", false},
		{"", "10.11.19-MariaDB", false},
	} {
		if got := sameServerVersion(tc.a, tc.b); got != tc.want {
			t.Errorf("sameServerVersion(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
