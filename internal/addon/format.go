package addon

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hoard-operator/hoard/internal/mysql"
)

// formatSeconds renders restic's float seconds as a Go duration string.
func formatSeconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// SplitArgs splits a command line the way a POSIX shell would split words: whitespace
// separates, single quotes keep everything, double quotes and backslashes escape. It is used
// for --mysql-args, which arrives as one string from the Task's ${args} parameter.
func SplitArgs(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

var snapshotNameRe = regexp.MustCompile(`^(?:.*-)?([0-9a-f]{8,64})$`)

// snapshotID accepts "latest", a restic id (short or long), or an upstream Stash snapshot
// name "<repository>-<short id>" and returns what restic understands.
func snapshotID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "latest" {
		return "latest", nil
	}
	if strings.Contains(s, ",") {
		return "", fmt.Errorf("a database is restored from one snapshot, got %q", s)
	}
	m := snapshotNameRe.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("%q is neither \"latest\" nor a snapshot id", s)
	}
	return m[1], nil
}

// UserArgs are the user's --mysql-args, split into words and checked: arguments that would
// override the target's connection (mysql.CheckUserArgs) are refused, naming the argument.
func UserArgs(raw string) ([]string, error) {
	args, err := SplitArgs(raw)
	if err != nil {
		return nil, fmt.Errorf("failed to parse --mysql-args: %w", err)
	}
	if err := mysql.CheckUserArgs(args); err != nil {
		return nil, fmt.Errorf("--mysql-args refused: %w", err)
	}
	return args, nil
}
