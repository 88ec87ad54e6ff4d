// Package server is the Herald process around the push service: its
// configuration, its three listeners (WebSocket, gRPC, admin HTTP), the
// wiring of the WebSocket adapter (package wsgate) and the gRPC adapter
// (package grpcapi) to one pushsvc.Service, and shutdown in layers under a
// deadline.
//
// Configuration: every setting is declared once, in the settings list
// (settings.go, and settings_*.go by topic): its flag, its HERALD_
// variable, its default, its checks, its help, and where its value goes in
// the packages' options. Config, its flags, its validation and the
// README's settings tables derive from that list. Every package's Options
// read a zero field as that package's default, and a distinct value turns
// a setting off: a negative number (wsgate.NoLimit, engine.NoHistory), or
// +Inf for grpcapi's rate limit. The command line's own convention, 0
// turning a limit off, lives in the list alone (spec.Off).
//
// Concurrency: Run owns the serving goroutines and waits for every one of
// them before it returns.
package server
