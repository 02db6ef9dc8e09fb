//go:build tools

// Package tools pins the rest-server build tool; hack/tools.sh builds it into bin/.
package tools

import (
	_ "github.com/restic/rest-server/cmd/rest-server"
)
