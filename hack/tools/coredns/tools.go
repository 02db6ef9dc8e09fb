//go:build tools

// Package tools pins CoreDNS, the cluster DNS of the local test cluster (test/cluster/up.sh);
// hack/tools.sh builds it into bin/.
package tools

import (
	_ "github.com/coredns/coredns"
)
