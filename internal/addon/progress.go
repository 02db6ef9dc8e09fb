package addon

import (
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
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

// streamProgress reports the progress of a stream whose total size may become known while
// it flows.
type streamProgress struct {
	done  atomic.Int64
	total atomic.Int64
	pp    *progressPrinter
	// tables is the restore engine's part: tables done and loading, rows.
	tables atomic.Pointer[result.Progress]
}

// update records that n bytes went through and reports it (at most once per interval).
func (p *streamProgress) update(n int64) {
	p.done.Store(n)
	p.pp.report(p.progress(), false)
}

func (p *streamProgress) progress() result.Progress {
	done, total := p.done.Load(), p.total.Load()
	r := result.Progress{BytesDone: done, TotalBytes: total}
	if t := p.tables.Load(); t != nil {
		r.TablesDone, r.Loading, r.RowsDone, r.Tables = t.TablesDone, t.Loading, t.RowsDone, t.Tables
	}
	if total > 0 {
		r.PercentDone = min(100, float64(done)*100/float64(total))
	}
	return r
}
