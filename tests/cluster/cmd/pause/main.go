// Command pause is the node tier's sandbox ("pause") image: no registry can be reached here, so
// containerd's sandbox image is built locally from this. It holds a Pod's namespaces open and
// ends on SIGINT or SIGTERM, as Kubernetes' own pause does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
