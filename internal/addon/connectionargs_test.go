package addon

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/mysql"
)

// TestConnectionArgsRefused runs the shared table of database arguments (also checked against
// the admission guard in test/integration) through the addon's own parsing and check.
func TestConnectionArgsRefused(t *testing.T) {
	f, err := os.Open("../mysql/testdata/connection-args.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, "\t", 3)
		if len(fields) != 3 {
			t.Fatalf("malformed line %q", line)
		}
		verdict, named, raw := fields[0], fields[1], fields[2]
		n++
		t.Run(raw, func(t *testing.T) {
			args, err := SplitArgs(raw)
			if err != nil {
				t.Fatal(err)
			}
			err = mysql.CheckUserArgs(args)
			var oe *mysql.OverrideError
			switch verdict {
			case "allow":
				if err != nil {
					t.Errorf("refused: %v", err)
				}
			case "deny":
				if !errors.As(err, &oe) {
					t.Fatalf("accepted, want it refused naming %q", named)
				}
				if oe.Arg != named || !strings.Contains(err.Error(), `"`+oe.Shown()+`"`) {
					t.Errorf("error names %q: %v; want %q", oe.Arg, err, named)
				}
				// A password given in the args is not repeated into status and events.
				if oe.Option == "--password" || oe.Option == "-p" {
					if _, value, ok := strings.Cut(named, "="); ok && strings.Contains(err.Error(), value) {
						t.Errorf("the error repeats the password %q: %v", value, err)
					}
					if v, ok := strings.CutPrefix(named, "-p"); ok && v != "" && strings.Contains(err.Error(), v) {
						t.Errorf("the error repeats the password %q: %v", v, err)
					}
				}
			default:
				t.Fatalf("verdict %q is neither allow nor deny", verdict)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 30 {
		t.Fatalf("only %d cases read", n)
	}
}
