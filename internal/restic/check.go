package restic

import (
	"context"
	"encoding/json"
	"errors"
)

// CheckResult is what `restic check --json` found.
type CheckResult struct {
	// Ran is true when restic got as far as checking, so NumErrors is meaningful.
	Ran         bool
	NumErrors   int
	BrokenPacks []string
	// Errors are restic's error messages, in order.
	Errors []string
}

// Check verifies the repository's structure and, with readDataSubset (e.g. "5%" or "1/10"),
// also reads that part of the data. A repository with errors returns a result with
// NumErrors > 0 together with an error.
func (r *Restic) Check(ctx context.Context, readDataSubset string) (*CheckResult, error) {
	var flags []string
	if readDataSubset != "" {
		flags = append(flags, "--read-data-subset", readDataSubset)
	}
	res := &CheckResult{}
	lw := &lineWriter{fn: func(line []byte) {
		var m struct {
			MessageType string   `json:"message_type"`
			NumErrors   int      `json:"num_errors"`
			BrokenPacks []string `json:"broken_packs"`
			Message     string   `json:"message"`
		}
		if json.Unmarshal(line, &m) != nil {
			return
		}
		switch m.MessageType {
		case "summary":
			res.Ran = true
			res.NumErrors = m.NumErrors
			res.BrokenPacks = m.BrokenPacks
		case "error":
			res.Errors = append(res.Errors, m.Message)
		}
	}}
	err := r.run(ctx, call{command: "check", json: true, flags: flags, stdout: lw})
	lw.Flush()
	if err == nil && res.NumErrors > 0 {
		err = errors.New("restic check reported errors")
	}
	return res, err
}
