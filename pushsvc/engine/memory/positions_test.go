package memory

import (
	"context"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

// TestPositions: each stream's last offset and epoch, in the order asked;
// the zero position for a stream never published, which the read does
// not create.
func TestPositions(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, 10)
	for range 3 {
		if _, _, err := e.Publish(ctx, "user:a", engine.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := e.Publish(ctx, "broadcast", engine.Message{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Positions(ctx, []string{"broadcast", "group:none", "user:a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != (engine.Position{Offset: 1, Epoch: p.Epoch}) || got[1] != (engine.Position{}) ||
		got[2].Offset != 3 || got[2].Epoch == "" {
		t.Fatalf("positions %+v", got)
	}
	if _, _, err := e.Publish(ctx, "group:none", engine.Message{}); err != nil {
		t.Fatal(err)
	}
	// Not created by the read: its first publication is offset 1.
	if got, _ := e.Positions(ctx, []string{"group:none"}); got[0].Offset != 1 {
		t.Errorf("group:none after one publish at %+v, want offset 1", got[0])
	}
}

// TestPositionsWaitForDelivery: a read while a publication is being
// delivered waits for the delivery to end and includes it; a pushsvc
// session that reads positions before it joins the hub counts on it.
func TestPositionsWaitForDelivery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inDeliver, release := make(chan struct{}), make(chan struct{})
	e, err := New(Options{HistorySize: 10, HistoryTTL: time.Hour, Handler: enginetest.Handler{OnDeliver: func(*engine.Publication) int {
		close(inDeliver)
		<-release
		return 0
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	published := make(chan error, 1)
	go func() {
		_, _, err := e.Publish(ctx, "s", engine.Message{})
		published <- err
	}()
	<-inDeliver
	read := make(chan []engine.Position, 1)
	go func() {
		got, _ := e.Positions(ctx, []string{"s"})
		read <- got
	}()
	select {
	case got := <-read:
		t.Fatalf("Positions answered %+v during the delivery", got)
	case <-time.After(50 * time.Millisecond):
		// Not a synchronisation: the read must still be waiting. A read
		// that did not wait would almost always have answered by now.
	}
	close(release)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if got := <-read; got[0].Offset != 1 {
		t.Errorf("position read after the delivery %+v, want offset 1", got[0])
	}
}
