package addon

import (
	"io"
	"sort"
	"strings"
	"sync"
)

// minSecretLen keeps very short values from being scrubbed: replacing every "a" in a log
// would hide everything and protect nothing.
const minSecretLen = 4

// Scrubber replaces known secret values in text with "***".
type Scrubber struct {
	r *strings.Replacer
}

// NewScrubber scrubs the given values (and their trimmed forms).
func NewScrubber(secrets ...string) *Scrubber {
	seen := map[string]bool{}
	var vals []string
	for _, s := range secrets {
		for _, v := range []string{s, strings.TrimSpace(s)} {
			if len(v) >= minSecretLen && !seen[v] {
				seen[v] = true
				vals = append(vals, v)
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	var pairs []string
	for _, v := range vals {
		pairs = append(pairs, v, "***")
	}
	return &Scrubber{r: strings.NewReplacer(pairs...)}
}

// String scrubs s.
func (s *Scrubber) String(v string) string { return s.r.Replace(v) }

// Writer returns a writer that scrubs complete lines before passing them to w. A secret split
// across two writes is still caught because only whole lines are scrubbed.
func (s *Scrubber) Writer(w io.Writer) *ScrubWriter { return &ScrubWriter{s: s, w: w} }

// ScrubWriter is a line-buffered scrubbing writer; Flush writes a trailing partial line.
type ScrubWriter struct {
	mu  sync.Mutex
	s   *Scrubber
	w   io.Writer
	buf []byte
}

func (sw *ScrubWriter) Write(p []byte) (int, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.buf = append(sw.buf, p...)
	if i := strings.LastIndexByte(string(sw.buf), '\n'); i >= 0 {
		out := sw.s.String(string(sw.buf[:i+1]))
		sw.buf = append(sw.buf[:0], sw.buf[i+1:]...)
		if _, err := io.WriteString(sw.w, out); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Flush writes what is left.
func (sw *ScrubWriter) Flush() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(sw.buf) > 0 {
		_, _ = io.WriteString(sw.w, sw.s.String(string(sw.buf))+"\n")
		sw.buf = sw.buf[:0]
	}
}
