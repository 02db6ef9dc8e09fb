//go:build tools

// Package tools pins promtool, which validates and unit-tests the alert rules (make test-alerts);
// hack/tools.sh builds it into bin/.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
