package main

import "errors"

// listen is filled in with the client SDK.
func listen([]string) error { return errors.New("listen: not built yet") }
