// Command pause is the test node's sandbox process and the entrypoint of the test workload image:
// it sleeps until it is told to stop. Static (CGO_ENABLED=0), so an image of one file runs it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
