package app

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoard-operator/hoard/internal/result"
)

func TestRunHook(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	termLog := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(termLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(handler string) (string, *result.Hook, error) {
		var out bytes.Buffer
		cmd := NewRootCommand()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"run-hook", "--name=preRestore", "--handler=" + handler, "--termination-log=" + termLog, "--timeout=5s"})
		err := cmd.Execute()
		msg, _ := os.ReadFile(termLog)
		h, perr := result.ParseHook(msg)
		if perr != nil {
			t.Fatalf("termination message %q: %v", msg, perr)
		}
		return out.String(), h, err
	}

	out, h, err := run(`{"tcpSocket":{"host":"127.0.0.1","port":` + port + `}}`)
	if err != nil || !h.Succeeded() || !strings.Contains(out, "preRestore hook (tcpSocket) succeeded") {
		t.Fatalf("open port: %v %+v %q", err, h, out)
	}
	_, h, err = run(`{"exec":{"command":["true"]}}`)
	if !errors.Is(err, errHookFailed) || h.Succeeded() || !strings.Contains(h.Error, "not running in a pod") && !strings.Contains(h.Error, "no hook identity") {
		t.Fatalf("exec outside a pod: %v %+v", err, h)
	}
	_, h, err = run(`{"tcpSocket":`)
	if !errors.Is(err, errHookFailed) || !strings.Contains(h.Error, "--handler is not a hook handler") {
		t.Fatalf("bad handler: %v %+v", err, h)
	}
}
