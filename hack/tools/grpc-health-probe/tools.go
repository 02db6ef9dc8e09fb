//go:build tools

// Package tools pins grpc_health_probe: OLM's registry pods run it as their readiness,
// liveness and startup probe, so the catalog image must have it; hack/tools.sh builds it.
package tools

import (
	_ "github.com/grpc-ecosystem/grpc-health-probe"
)
