//go:build tools

// Package tools pins Operator Lifecycle Manager (the olm and catalog operators, and the
// copy-content and cpb helpers its registry pods and bundle-unpack Jobs run); hack/tools.sh
// builds them into bin/, and test/install/olm.sh puts them in an image.
package tools

import (
	_ "github.com/operator-framework/operator-lifecycle-manager/cmd/catalog"
	_ "github.com/operator-framework/operator-lifecycle-manager/cmd/copy-content"
	_ "github.com/operator-framework/operator-lifecycle-manager/cmd/olm"
	_ "github.com/operator-framework/operator-lifecycle-manager/util/cpb"
)
