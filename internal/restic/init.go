package restic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// Errors of Init that restic reports with its generic exit code 1, told apart by restic's
// own message (restic v0.19.1, internal/repository/repository.go and the backends' Create).
var (
	// ErrKeysWithoutConfig is a location that holds key files, or snapshots, but no config
	// file: a repository whose initialisation did not finish, or whose config was deleted.
	// restic refuses to initialise it, and so must everyone: the keys may protect data.
	ErrKeysWithoutConfig = errors.New("the location has restic key files but no config file")
	// ErrAlreadyInitialized is a repository that exists already, e.g. created by another
	// process between a command that found none and this Init.
	ErrAlreadyInitialized = errors.New("the repository is already initialized")
)

// initRefusals maps restic's messages to the errors above.
var initRefusals = []struct {
	text string
	err  error
}{
	{"repository already contains keys", ErrKeysWithoutConfig},
	{"repository already contains snapshots", ErrKeysWithoutConfig},
	{"repository master key and config already initialized", ErrAlreadyInitialized},
	{"config file already exists", ErrAlreadyInitialized},
}

// Init creates the repository and returns its id. It never initialises a location that
// already holds a config or key files: restic refuses, and Init reports why with
// ErrAlreadyInitialized or ErrKeysWithoutConfig (the *ExitError is wrapped as well).
func (r *Restic) Init(ctx context.Context) (string, error) {
	var out bytes.Buffer
	if err := r.run(ctx, call{command: "init", json: true, stdout: &out}); err != nil {
		return "", classifyInit(err)
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

func classifyInit(err error) error {
	var xe *ExitError
	if !errors.As(err, &xe) || xe.Code != 1 {
		return err
	}
	for _, x := range initRefusals {
		if strings.Contains(xe.Message, x.text) {
			return fmt.Errorf("%w: %w", x.err, err)
		}
	}
	return err
}
