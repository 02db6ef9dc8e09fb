//go:build tools

// Package tools pins operator-registry's opm (serves the file-based catalog in the catalog image,
// extracts bundles in OLM's unpack Jobs); hack/tools.sh builds it into bin/.
package tools

import (
	_ "github.com/operator-framework/operator-registry/cmd/opm"
)
