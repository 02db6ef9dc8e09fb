//go:build tools

// Package tools pins the controller-gen build tool; hack/tools.sh builds it into bin/.
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
