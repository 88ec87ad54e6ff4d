package server_test

import (
	"fmt"
	"strings"
	"testing"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
)

func msg(topic, payload string) *pushv1.Message {
	return &pushv1.Message{Topic: topic, Payload: []byte(payload)}
}

func TestUserPushReachesBothDevices(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	phone := env.Connect(t, "alice")
	laptop := env.Connect(t, "alice")
	bob := env.Connect(t, "bob")
	res, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("chat", "hello")})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetDelivered() != 2 || res.GetMessageId() == "" {
		t.Fatalf("response = %v, want delivered 2 and a message id", res)
	}
	for _, c := range []*wsClient{phone, laptop} {
		p := c.NextPush(t)
		if string(p.GetPayload()) != "hello" || p.GetTopic() != "chat" || p.GetStream() != "user:alice" || p.GetOffset() != 1 || p.GetId() != res.GetMessageId() {
			t.Errorf("push = %v", p)
		}
	}
	noPushBeforePong(t, bob)
}

func TestGroupPushAndExclude(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	alice := env.Connect(t, "alice", "room")
	bob := env.Connect(t, "bob", "room")
	carol := env.Connect(t, "carol")
	res, err := env.API.PushToGroups(testCtx(t), &pushv1.PushToGroupsRequest{Groups: []string{"room"}, Message: msg("g", "x")})
	if err != nil || res.GetDelivered() != 2 {
		t.Fatalf("push: %v %v", res, err)
	}
	for _, c := range []*wsClient{alice, bob} {
		if p := c.NextPush(t); p.GetStream() != "group:room" {
			t.Errorf("push = %v", p)
		}
	}
	res, err = env.API.PushToGroups(testCtx(t), &pushv1.PushToGroupsRequest{Groups: []string{"room"}, Message: msg("g", "y"), ExcludeUserIds: []string{"bob"}})
	if err != nil || res.GetDelivered() != 1 {
		t.Fatalf("push excluding bob: %v %v", res, err)
	}
	if p := alice.NextPush(t); string(p.GetPayload()) != "y" {
		t.Errorf("alice got %v", p)
	}
	// Excluded bob gets the offset as a marker, without the push: his
	// stream has no hole.
	if p := bob.NextPush(t); !p.GetExcluded() || p.GetStream() != "group:room" || p.GetOffset() != 2 || p.GetTopic() != "" || len(p.GetPayload()) != 0 {
		t.Errorf("bob got %v, want the marker of group:room 2", p)
	}
	noPushBeforePong(t, bob)
	noPushBeforePong(t, carol)
}

func TestBroadcastReachesEveryone(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	var clients []*wsClient
	for i := range 5 {
		clients = append(clients, env.Connect(t, fmt.Sprintf("u%d", i)))
	}
	res, err := env.API.Broadcast(testCtx(t), &pushv1.BroadcastRequest{Message: msg("all", "news")})
	if err != nil || res.GetDelivered() != 5 {
		t.Fatalf("broadcast: %v %v", res, err)
	}
	for _, c := range clients {
		if p := c.NextPush(t); p.GetStream() != "broadcast" || string(p.GetPayload()) != "news" {
			t.Errorf("push = %v", p)
		}
	}
}

func TestAddToGroupAfterConnect(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	alice := env.Connect(t, "alice")
	if _, err := env.API.AddToGroup(testCtx(t), &pushv1.AddToGroupRequest{Group: "team", UserIds: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	res, err := env.API.PushToGroups(testCtx(t), &pushv1.PushToGroupsRequest{Groups: []string{"team"}, Message: msg("t", "joined")})
	if err != nil || res.GetDelivered() != 1 {
		t.Fatalf("push: %v %v", res, err)
	}
	if p := alice.NextPush(t); string(p.GetPayload()) != "joined" {
		t.Errorf("push = %v", p)
	}
	members, err := env.API.ListGroupMembers(testCtx(t), &pushv1.ListGroupMembersRequest{Group: "team"})
	if err != nil || strings.Join(members.GetUserIds(), ",") != "alice" {
		t.Errorf("members: %v %v", members, err)
	}
	// A later connection of the same user is in the group too.
	alice2 := env.Connect(t, "alice")
	res, _ = env.API.PushToGroups(testCtx(t), &pushv1.PushToGroupsRequest{Groups: []string{"team"}, Message: msg("t", "again")})
	if res.GetDelivered() != 2 {
		t.Errorf("delivered = %d, want 2", res.GetDelivered())
	}
	alice.NextPush(t)
	alice2.NextPush(t)
}
