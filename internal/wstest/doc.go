// Package wstest is a raw WebSocket client for Herald's tests: a gws
// client that decodes every ServerFrame it receives, so that a test can
// read frames, pushes (single or batched) and the server's close, and send
// ClientFrames, with bounded waits. The SDK (package client) hides all of
// this; tests of the server's edge need to see it.
package wstest
