// Command herald is the Herald push service: serve runs a node, token mints
// client tokens, listen prints the pushes a user receives, bench generates
// load.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(2)
	}
}
