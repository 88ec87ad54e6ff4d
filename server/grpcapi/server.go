package grpcapi

import (
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// pushServer implements pushv1.PushServiceServer. It is unexported so that
// API's own methods stay the wiring (Register, ServerOptions, ...), not the
// RPCs; the methods live in push.go, groups.go, admin.go (DisconnectUser, GetPresence) and stats.go.
type pushServer struct {
	// UnimplementedPushServiceServer answers Unimplemented for methods a
	// newer .proto adds before this package implements them.
	pushv1.UnimplementedPushServiceServer

	api *API
}
