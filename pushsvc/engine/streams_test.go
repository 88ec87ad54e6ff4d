package engine

import "testing"

// TestStreamNames: the names are the contract's (user:<id>, group:<name>,
// broadcast), and each reads back only as its own kind.
func TestStreamNames(t *testing.T) {
	if got := UserStream("alice"); got != "user:alice" {
		t.Errorf("UserStream(alice) = %q", got)
	}
	if got := GroupStream("news"); got != "group:news" {
		t.Errorf("GroupStream(news) = %q", got)
	}
	if BroadcastStream != "broadcast" {
		t.Errorf("BroadcastStream = %q", BroadcastStream)
	}
	for _, tc := range []struct {
		stream      string
		user, group string
		isUser      bool
		isGroup     bool
	}{
		{stream: "user:alice", user: "alice", isUser: true},
		{stream: "user:", isUser: true},
		{stream: "group:news", group: "news", isGroup: true},
		{stream: "group:user:x", group: "user:x", isGroup: true},
		{stream: "broadcast"},
		{stream: "users:alice"},
	} {
		u, okU := StreamUser(tc.stream)
		g, okG := StreamGroup(tc.stream)
		if u != tc.user || okU != tc.isUser || g != tc.group || okG != tc.isGroup {
			t.Errorf("%q: user %q %v, group %q %v; want %q %v, %q %v", tc.stream, u, okU, g, okG, tc.user, tc.isUser, tc.group, tc.isGroup)
		}
	}
}
