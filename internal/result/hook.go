package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hoard-operator/hoard/internal/scrub"
)

// HookType is the value of Hook.Type; it tells a hook's termination message apart from a
// backup or restore Result.
const HookType = "hook"

// Hook is what one hook (preBackup, postBackup, preRestore, postRestore) reported. The hook
// container writes it as its termination message, successful or not.
type Hook struct {
	// Type is always "hook".
	Type string `json:"type"`
	// Name is the hook: preBackup, postBackup, preRestore or postRestore.
	Name string `json:"name"`
	// Action is exec, httpGet, httpPost or tcpSocket.
	Action string `json:"action,omitempty"`
	Phase  Phase  `json:"phase"`
	// Error says why the hook failed, Output what it printed or answered; both scrubbed and
	// bounded.
	Error    string `json:"error,omitempty"`
	Output   string `json:"output,omitempty"`
	Duration string `json:"duration,omitempty"`
}

// Scrub hides secrets and row data in what h quotes of the hook's output.
func (h *Hook) Scrub(s *scrub.Scrubber) {
	h.Error = s.String(h.Error)
	h.Output = s.String(h.Output)
}

// Succeeded tells whether the hook succeeded.
func (h *Hook) Succeeded() bool { return h.Phase == PhaseSucceeded }

// Describe is the hook's outcome in one line for conditions and events.
func (h *Hook) Describe() string {
	msg := h.Name + " hook"
	if h.Action != "" {
		msg += " (" + h.Action + ")"
	}
	if h.Succeeded() {
		msg += " succeeded"
	} else {
		msg += " failed"
		if h.Error != "" {
			msg += ": " + h.Error
		}
	}
	if h.Output != "" {
		msg += "; output: " + h.Output
	}
	return msg
}

// MarshalHook encodes h for a termination message, its messages passed through the rules of
// package scrub that need no secret values, and shortened (output first, then error) to fit
// MaxTerminationMessageBytes.
func MarshalHook(h *Hook) ([]byte, error) {
	c := *h
	c.Type = HookType
	c.Scrub(nil)
	for {
		b, err := json.Marshal(&c)
		if err != nil {
			return nil, fmt.Errorf("failed to encode hook result: %w", err)
		}
		over := len(b) - MaxTerminationMessageBytes
		if over <= 0 {
			return b, nil
		}
		switch {
		case len(c.Output) > 0:
			c.Output = shorten(c.Output, len(c.Output)-over-len(elision))
		case len(c.Error) > minErrorBytes:
			c.Error = shorten(c.Error, max(minErrorBytes, len(c.Error)-over-len(elision)))
		default:
			return nil, fmt.Errorf("hook result is %d bytes, more than a termination message holds (%d)", len(b), MaxTerminationMessageBytes)
		}
	}
}

// shorten keeps keep bytes of s, half from its start and half from its end.
func shorten(s string, keep int) string {
	if keep <= 0 {
		return ""
	}
	if keep >= len(s) {
		return s
	}
	head := keep / 2
	return strings.ToValidUTF8(s[:head]+elision+s[len(s)-(keep-head):], "")
}

// ParseHook decodes a Hook written by MarshalHook; anything else is an error.
func ParseHook(data []byte) (*Hook, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty hook result")
	}
	var h Hook
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("failed to decode hook result: %w", err)
	}
	if h.Type != HookType {
		return nil, fmt.Errorf("not a hook result (type %q)", h.Type)
	}
	if h.Phase != PhaseSucceeded && h.Phase != PhaseFailed {
		return nil, fmt.Errorf("hook result has unknown phase %q", h.Phase)
	}
	return &h, nil
}
