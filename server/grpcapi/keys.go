package grpcapi

import (
	"errors"
	"strconv"
	"strings"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// Scope is a set of the method groups an API key may call. The split is
// documented on PushService in push.proto.
type Scope uint8

const (
	// ScopePush allows what an app's backend needs: PushToUsers,
	// PushToGroups, Broadcast, PushStream, AddToGroup, RemoveFromGroup
	// and ListGroupMembers.
	ScopePush Scope = 1 << iota
	// ScopeAdmin allows what ops need: DisconnectUser, GetPresence (it
	// reveals clients' addresses), GetStats, WatchStats and WatchEvents.
	ScopeAdmin
	// ScopeEvents allows WatchEvents only: for a backend that reacts to
	// presence and delivery without the rest of admin.
	ScopeEvents

	// ScopeAll is every scope: what a key without scopes, and a caller
	// with a verified client certificate, may call.
	ScopeAll = ScopePush | ScopeAdmin | ScopeEvents
)

// scopeNames spell the scopes in APIKeys, in the order String writes them.
var scopeNames = []struct {
	scope Scope
	name  string
}{{ScopePush, "push"}, {ScopeAdmin, "admin"}, {ScopeEvents, "events"}}

// String writes s the way APIKeys spells it, e.g. "push+admin".
func (s Scope) String() string {
	var names []string
	for _, n := range scopeNames {
		if s&n.scope != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}

// anyOf writes s as the scopes of which a key needs one, for messages:
// "admin" or "events".
func (s Scope) anyOf() string {
	var names []string
	for _, n := range scopeNames {
		if s&n.scope != 0 {
			names = append(names, strconv.Quote(n.name))
		}
	}
	return strings.Join(names, " or ")
}

// methodScopes says which scopes let a key call each method: any one of
// them will do. Reflection is open to every valid key: it tells only what
// push.proto tells. A method missing here, such as one a newer push.proto
// adds, needs ScopeAdmin until it is listed: an unlisted method fails
// closed (TestEveryMethodHasAScope keeps the PushService part whole).
var methodScopes = map[string]Scope{
	pushv1.PushService_PushToUsers_FullMethodName:      ScopePush,
	pushv1.PushService_PushToGroups_FullMethodName:     ScopePush,
	pushv1.PushService_Broadcast_FullMethodName:        ScopePush,
	pushv1.PushService_AddToGroup_FullMethodName:       ScopePush,
	pushv1.PushService_RemoveFromGroup_FullMethodName:  ScopePush,
	pushv1.PushService_ListGroupMembers_FullMethodName: ScopePush,
	pushv1.PushService_DisconnectUser_FullMethodName:   ScopeAdmin,
	pushv1.PushService_GetPresence_FullMethodName:      ScopeAdmin,
	pushv1.PushService_GetStats_FullMethodName:         ScopeAdmin,
	pushv1.PushService_WatchStats_FullMethodName:       ScopeAdmin,
	pushv1.PushService_PushStream_FullMethodName:       ScopePush,
	pushv1.PushService_WatchEvents_FullMethodName:      ScopeAdmin | ScopeEvents,

	reflectionpb.ServerReflection_ServerReflectionInfo_FullMethodName: 0,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo":  0,
}

// requiredScope returns the scopes of which a call of method needs one;
// 0 means any valid key will do.
func requiredScope(method string) Scope {
	if s, ok := methodScopes[method]; ok {
		return s
	}
	return ScopeAdmin
}

// APIKey is one entry of Options.APIKeys, parsed.
type APIKey struct {
	// Key is what callers send as "authorization: Bearer <key>".
	Key string
	// Scopes are the methods the key may call.
	Scopes Scope
}

// ParseAPIKey parses one entry of Options.APIKeys (one comma-separated
// element of --api-key): "KEY" may call every method, "KEY:push" only the
// push methods, "KEY:admin" only the admin methods (WatchEvents
// included), "KEY:events" only WatchEvents, "KEY:push+admin" both push
// and admin, and so on.
// The key ends at the first colon, so a key cannot contain one. Errors
// never quote the key: it is a secret.
func ParseAPIKey(spec string) (APIKey, error) {
	key, scopes, hasScopes := strings.Cut(spec, ":")
	if key == "" {
		return APIKey{}, errors.New("the key must not be empty")
	}
	if !hasScopes {
		return APIKey{Key: key, Scopes: ScopeAll}, nil
	}
	k := APIKey{Key: key}
	for name := range strings.SplitSeq(scopes, "+") {
		s, err := parseScope(name)
		if err != nil {
			return APIKey{}, err
		}
		k.Scopes |= s
	}
	return k, nil
}

func parseScope(name string) (Scope, error) {
	for _, n := range scopeNames {
		if n.name == name {
			return n.scope, nil
		}
	}
	if name == "" {
		return 0, errors.New(`empty scope: write KEY, KEY:push, KEY:admin, KEY:events or KEY:push+events`)
	}
	// Not quoted: with a colon inside a key, it would be part of the key.
	return 0, errors.New("unknown scope after the colon: scopes are push, admin and events, joined with + (a key cannot contain a colon)")
}
