//go:build tools

// Package tools pins the helm build tool; hack/tools.sh builds it into bin/.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
