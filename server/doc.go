// Package server is the Herald process around the push service: its
// configuration, its three listeners (WebSocket, gRPC, admin HTTP), the
// wiring of the WebSocket adapter (package wsgate) and the gRPC adapter
// (package grpcapi) to one pushsvc.Service, and shutdown in layers under a
// deadline.
//
// Concurrency: Run owns the serving goroutines and waits for every one of
// them before it returns.
package server
