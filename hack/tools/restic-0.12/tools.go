//go:build tools

// Package tools pins restic 0.12.1, the version upstream Stash shipped. The data-path tests
// use it to write repositories the way Stash did (repository version 1, no tags).
package tools

import (
	_ "github.com/restic/restic/cmd/restic"
)
