package engine

import "strings"

// Stream names. Every push goes to one stream, whose name says who receives
// it; the name is part of the client contract (Push.stream,
// StreamPosition.stream) and, with the Redis engine, of the keys and the
// partition a stream is stored in.
const (
	// BroadcastStream is the stream of pushes to everyone.
	BroadcastStream = "broadcast"

	userStreamPrefix  = "user:"
	groupStreamPrefix = "group:"
)

// UserStream names the stream of pushes to one user: "user:<id>".
func UserStream(user string) string { return userStreamPrefix + user }

// GroupStream names the stream of pushes to one group: "group:<name>".
func GroupStream(group string) string { return groupStreamPrefix + group }

// StreamUser returns the user of a user stream; "" and false for any
// other stream.
func StreamUser(stream string) (user string, ok bool) {
	if user, ok = strings.CutPrefix(stream, userStreamPrefix); !ok {
		return "", false
	}
	return user, true
}

// StreamGroup returns the group of a group stream; "" and false for any
// other stream.
func StreamGroup(stream string) (group string, ok bool) {
	if group, ok = strings.CutPrefix(stream, groupStreamPrefix); !ok {
		return "", false
	}
	return group, true
}
