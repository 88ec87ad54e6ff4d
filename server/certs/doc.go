// Package certs keeps a TLS certificate that can be replaced while the
// server runs: listeners ask Reloader.GetCertificate on every handshake,
// and Reload (on SIGHUP, or when Watch sees the files change) swaps in the
// new pair. A pair that fails to load leaves the current one in place.
//
// Concurrency: the current certificate is an atomic pointer; Reload may run
// concurrently with handshakes. Watch runs on its caller's goroutine until
// its context ends.
package certs
