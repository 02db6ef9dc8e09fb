//go:build tools

// Package tools pins the versitygw build tool; hack/tools.sh builds it into bin/.
package tools

import (
	_ "github.com/versity/versitygw/cmd/versitygw"
)
