package restic

import (
	"bytes"
	"context"
)

// Init creates the repository and returns its id.
func (r *Restic) Init(ctx context.Context) (string, error) {
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "init", json: true, stdout: &out}); err != nil {
		return "", err
	}
	var m struct {
		MessageType string `json:"message_type"`
		ID          string `json:"id"`
	}
	if err := decodeJSON("init", out.Bytes(), &m); err != nil {
		return "", err
	}
	return m.ID, nil
}
