// The pod sandbox ("pause") image's one program, for the tests' single-node cluster: it
// holds the pod's namespaces open, reaps the zombies it inherits as the pod's PID 1 and
// exits on SIGINT or SIGTERM, as Kubernetes' own pause does. .ci/setup.sh builds it static
// (CGO_ENABLED=0) and makes the image meshproof/pause from it alone (FROM scratch).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
