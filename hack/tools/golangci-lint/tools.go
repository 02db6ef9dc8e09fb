//go:build tools

// Package tools pins the golangci-lint build tool; hack/tools.sh builds it into bin/.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
