package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
)

// TestPagedResumeOverWebSocket: a client that missed eight send budgets of
// pushes on two streams resumes over a real socket while live pushes to
// both keep coming. The replay goes out in pages as the socket drains:
// every push of each stream arrives once, in order, replay then live, and
// the client is never a slow consumer. For the first frame after a
// resume=1 connect and for a Resume in mid-connection.
func TestPagedResumeOverWebSocket(t *testing.T) {
	for _, hold := range []bool{true, false} {
		t.Run(fmt.Sprint("hold=", hold), func(t *testing.T) {
			env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) {
				c.SendQueueBytes = 64 << 10
				c.HistorySize = 2000
			}})
			kib := strings.Repeat("x", 1024)
			for range 400 {
				if _, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("missed", kib)}); err != nil {
					t.Fatal(err)
				}
			}
			for range 100 {
				if _, err := env.API.Broadcast(testCtx(t), &pushv1.BroadcastRequest{Message: msg("missed", kib)}); err != nil {
					t.Fatal(err)
				}
			}
			url := env.WSURL
			if hold {
				url += "?resume=1"
			}
			c, _, err := dialWS(t, url, env.Token(t, "alice"), dialOpts{compress: true})
			if err != nil {
				t.Fatal(err)
			}
			if c.Next(t).GetWelcome() == nil {
				t.Fatal("first frame is not a Welcome")
			}
			held := 0
			if hold {
				// Before the Resume: held for it.
				for range 5 {
					if _, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("held", kib)}); err != nil {
						t.Fatal(err)
					}
				}
				held = 5
			}
			// Everything from the start (offset 0, no epoch yet).
			c.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{Streams: []*clientv1.StreamPosition{
				{Stream: "user:alice"}, {Stream: "broadcast"}}}}})
			rr := c.Next(t).GetResumeResult()
			if len(rr.GetStreams()) != 2 || !rr.GetStreams()[0].GetRecovered() || !rr.GetStreams()[1].GetRecovered() {
				t.Fatalf("resume result %v, want both streams recovered", rr)
			}
			// Live pushes while the replay is paged out: they wait for it,
			// within half the send queue (more would cut the replay short
			// or, past the whole queue, close the client as slow).
			const live = 10
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range live {
					if _, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("live", kib)}); err != nil {
						t.Error(err)
						return
					}
					if _, err := env.API.Broadcast(testCtx(t), &pushv1.BroadcastRequest{Message: msg("live", kib)}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			next := map[string]uint64{"user:alice": 1, "broadcast": 1}
			for n := 0; n < 400+100+held+2*live; n++ {
				p := c.NextPush(t)
				if p.GetOffset() != next[p.GetStream()] {
					t.Fatalf("push %d: %s offset %d, want %d (a gap, a duplicate or out of order)", n, p.GetStream(), p.GetOffset(), next[p.GetStream()])
				}
				next[p.GetStream()]++
			}
			wg.Wait()
			if st := env.Stats(t); st.GetSlowConsumerDisconnects() != 0 || st.GetConnections() != 1 {
				t.Errorf("stats %v, want no slow-consumer close and the connection kept", st)
			}
		})
	}
}
