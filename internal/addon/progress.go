package addon

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/hoard-operator/hoard/internal/result"
)

// progressPrinter prints result.Progress lines on stdout, at most one per interval, so that
// a long backup does not flood the container log.
type progressPrinter struct {
	mu       sync.Mutex
	w        io.Writer
	interval time.Duration
	start    time.Time
	last     time.Time
}

func newProgressPrinter(w io.Writer, interval time.Duration) *progressPrinter {
	return &progressPrinter{w: w, interval: interval, start: time.Now()}
}

// report prints p unless one was printed less than interval ago; final always prints.
func (pp *progressPrinter) report(p result.Progress, final bool) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	now := time.Now()
	if !final && !pp.last.IsZero() && now.Sub(pp.last) < pp.interval {
		return
	}
	pp.last = now
	p.Type = result.ProgressType
	if p.Elapsed == "" {
		p.Elapsed = result.FormatDuration(now.Sub(pp.start))
	}
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	_, _ = pp.w.Write(append(b, '\n'))
}

// countingWriter counts bytes passed to w and reports progress.
type countingWriter struct {
	w     io.Writer
	n     int64
	total int64
	pp    *progressPrinter
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.pp.report(c.progress(), false)
	return n, err
}

func (c *countingWriter) progress() result.Progress {
	p := result.Progress{BytesDone: c.n, TotalBytes: c.total}
	if c.total > 0 {
		p.PercentDone = min(100, float64(c.n)*100/float64(c.total))
	}
	return p
}
