// Command hoard is the Hoard operator: it runs the controllers (`hoard run`) and the small
// commands its Jobs and CronJobs call.
package main

import (
	"os"

	"github.com/hoard-operator/hoard/cmd/hoard/app"
)

func main() {
	if err := app.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
