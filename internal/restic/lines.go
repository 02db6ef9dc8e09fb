package restic

import (
	"bytes"
	"strings"
	"sync"
)

// lineWriter calls fn for every complete line written to it. A line split across writes is
// buffered until its end arrives; Flush hands over a last line without a newline.
type lineWriter struct {
	fn  func(line []byte)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			return n, nil
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.fn(bytes.TrimSuffix(w.buf, []byte("\r")))
			w.buf = w.buf[:0]
		} else {
			w.fn(bytes.TrimSuffix(p[:i], []byte("\r")))
		}
		p = p[i+1:]
	}
}

// Flush passes on a trailing partial line.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.fn(w.buf)
		w.buf = w.buf[:0]
	}
}

// tail keeps the last lines written to it, for error messages. It is safe for concurrent use.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	lw    lineWriter
}

// newTail keeps at most max lines.
func newTail(max int) *tail {
	t := &tail{max: max}
	t.lw.fn = t.add
	return t
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lw.Write(p)
}

func (t *tail) add(line []byte) {
	s := strings.TrimSpace(string(line))
	if s == "" {
		return
	}
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// Lines returns the kept lines, the partial last one included.
func (t *tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.lines...)
	if s := strings.TrimSpace(string(t.lw.buf)); s != "" {
		out = append(out, s)
		if len(out) > t.max {
			out = out[len(out)-t.max:]
		}
	}
	return out
}
