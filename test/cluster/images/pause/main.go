// Command pause is the sandbox ("pause") container of the local test cluster: no image can be
// pulled here, so test/cluster/up.sh builds this static binary into hoard.local/pause. Like
// Kubernetes' own pause it holds the pod's namespaces, reaps orphaned children (it is PID 1 when
// a pod shares its process namespace) and exits on SIGINT/SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
