// Command kubectl-hoard is the `kubectl hoard` plugin: day-2 operations on Hoard's objects
// (trigger, pause, resume, snapshots, restore, debug) with the user's own kubeconfig.
package main

import (
	"os"

	"github.com/hoard-operator/hoard/cmd/kubectl-hoard/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr))
}
