package restic

import (
	"errors"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/scrub"
)

func TestExitErrorMapping(t *testing.T) {
	tests := []struct {
		code int
		want error
		text string
	}{
		{1, ErrFailed, "command failed (exit code 1)"},
		{2, ErrRuntime, "internal error"},
		{3, ErrIncomplete, "incomplete"},
		{10, ErrNoRepository, "repository does not exist (exit code 10)"},
		{11, ErrLocked, "locked"},
		{12, ErrWrongPassword, "wrong repository password (exit code 12)"},
		{130, ErrInterrupted, "interrupted"},
		{77, ErrFailed, "exit code 77"},
	}
	for _, tt := range tests {
		err := error(&ExitError{Command: "backup", Code: tt.code, Message: "Fatal: details"})
		if !errors.Is(err, tt.want) {
			t.Errorf("code %d: errors.Is(%v, %v) = false", tt.code, err, tt.want)
		}
		for _, other := range []error{ErrNoRepository, ErrLocked, ErrWrongPassword, ErrIncomplete} {
			if !errors.Is(other, tt.want) && errors.Is(err, other) {
				t.Errorf("code %d also matches %v", tt.code, other)
			}
		}
		if !strings.Contains(err.Error(), tt.text) || !strings.HasPrefix(err.Error(), "restic backup failed: ") || !strings.HasSuffix(err.Error(), ": Fatal: details") {
			t.Errorf("code %d: message %q", tt.code, err)
		}
	}
	killed := &ExitError{Command: "backup", Code: -1, Signal: "signal: killed"}
	if !errors.Is(killed, ErrKilled) || !strings.Contains(killed.Error(), "signal: killed") {
		t.Errorf("killed: %v", killed)
	}
}

func TestStderrCollectorMessage(t *testing.T) {
	var forwarded strings.Builder
	s := newStderr(&forwarded, scrub.New("pw-of-the-repo", "p"))
	// Written in odd pieces: lines must be reassembled. What restic prints of a REST URL
	// without credentials (http://:***@h) is shown as the URL it is; the secrets it may print
	// are hidden in the log and in the message.
	for _, p := range []string{"Stat(<config/>) returned error, retrying after 1s: Head \"http://:***@h/config\": dial tcp: conn", "ection refused\nkey pw-of-the-repo p\n{\"message_type\":\"exit_", "error\",\"code\":130,\"message\":\"Fatal: unable to open config file: context canceled\\nrest:http://h/ p\"}\n"} {
		if _, err := s.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	s.flush()
	got := s.message()
	want := "Fatal: unable to open config file: context canceled rest:http://h/ *** (last message: key *** ***)"
	if got != want {
		t.Errorf("message = %q\nwant      %q", got, want)
	}
	if !strings.HasPrefix(forwarded.String(), "Stat(<config/>) returned error, retrying after 1s: Head \"http://h/config\": dial tcp: connection refused\nkey *** ***\n") {
		t.Errorf("forwarded = %q", forwarded.String())
	}

	plain := newStderr(nil, nil)
	_, _ = plain.Write([]byte("Fatal: wrong password or no key found\n"))
	plain.flush()
	if got := plain.message(); got != "Fatal: wrong password or no key found" {
		t.Errorf("plain message = %q", got)
	}
}
