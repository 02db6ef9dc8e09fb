//go:build tools

// Package tools pins etcd, built from the Go module proxy at the minor version Kubernetes 1.34
// is released with (3.6): the API server serves consistent lists from its watch cache only
// with an etcd that answers progress requests (3.5.13+ / 3.6), which Debian's 3.4 does not.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
