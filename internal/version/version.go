// Package version reports the build's version, set at link time with
// -ldflags "-X github.com/hoard-operator/hoard/internal/version.Version=v0.1.0 ...".
package version

import (
	"fmt"
	"runtime"
)

// Set by the linker; these are never written at run time.
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is the one-line version report.
func String() string {
	return fmt.Sprintf("hoard %s (commit %s, %s, %s/%s)", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
