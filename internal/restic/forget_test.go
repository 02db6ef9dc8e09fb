package restic

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestForgetArgv(t *testing.T) {
	c := forgetCall(ForgetOptions{
		Filter:   Filter{Host: "host-0", Tags: []string{"namespace=demo", "invoker=BackupConfiguration/a", "target=AppBinding/a"}, Paths: []string{"/dumpfile.sql"}},
		KeepLast: 2, KeepMonthly: 3, KeepTags: []string{"monthly", "manual"}, Prune: true,
	})
	want := []string{"--host", "host-0", "--tag", "namespace=demo,invoker=BackupConfiguration/a,target=AppBinding/a", "--path", "/dumpfile.sql",
		"--keep-last", "2", "--keep-monthly", "3", "--keep-tag", "monthly", "--keep-tag", "manual", "--prune"}
	if c.command != "forget" || !c.json || !reflect.DeepEqual(c.flags, want) {
		t.Errorf("forget call %+v\nwant flags %q", c, want)
	}
	c = forgetIDsCall([]string{"aaaa", "bbbb"}, true)
	if !reflect.DeepEqual(c.flags, []string{"--prune"}) || !reflect.DeepEqual(c.args, []string{"--", "aaaa", "bbbb"}) {
		t.Errorf("forget ids call %+v", c)
	}
}

func TestInitRefusals(t *testing.T) {
	tests := []struct {
		msg  string
		want error
	}{
		{"Fatal: create key in repository at /r failed: repository already contains keys", ErrKeysWithoutConfig},
		{"Fatal: create key in repository at /r failed: repository already contains snapshots", ErrKeysWithoutConfig},
		{"Fatal: create repository at /r failed: config file already exists", ErrAlreadyInitialized},
		{"Fatal: create key in repository at /r failed: repository master key and config already initialized", ErrAlreadyInitialized},
		{"Fatal: create repository at /r failed: permission denied", nil},
	}
	for _, tt := range tests {
		xe := &ExitError{Command: "init", Code: 1, Message: tt.msg}
		err := classifyInit(xe)
		for _, e := range []error{ErrKeysWithoutConfig, ErrAlreadyInitialized} {
			want := tt.want != nil && errors.Is(e, tt.want)
			if errors.Is(err, e) != want {
				t.Errorf("%q: errors.Is(%v) = %v", tt.msg, e, !want)
			}
		}
		if !errors.Is(err, ErrFailed) {
			t.Errorf("%q: the exit error is no longer wrapped: %v", tt.msg, err)
		}
	}
	// Another exit code is not an init refusal, whatever the text.
	if err := classifyInit(&ExitError{Command: "init", Code: 12, Message: "repository already contains keys"}); errors.Is(err, ErrKeysWithoutConfig) {
		t.Error("exit code 12 classified as keys without config")
	}
}

func TestLockString(t *testing.T) {
	l := Lock{ID: "0123456789abcdef", Exclusive: true, Hostname: "backup-pod", PID: 7, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if got, want := l.String(), "exclusive lock 01234567 of PID 7 on host backup-pod, 2026-01-02T03:04:05Z"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
