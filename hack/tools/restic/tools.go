//go:build tools

// Package tools pins the restic build tool; hack/tools.sh builds it into bin/.
package tools

import (
	_ "github.com/restic/restic/cmd/restic"
)
