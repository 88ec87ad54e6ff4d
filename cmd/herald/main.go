// Command herald is the Herald push service: serve runs a node, token mints
// client tokens, listen prints the pushes a user receives, events prints
// the cluster's presence and delivery events, bench generates load.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
