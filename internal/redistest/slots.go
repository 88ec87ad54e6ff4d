package redistest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// migrateTimeout bounds one MIGRATE: how long the source may wait on the
// target.
const migrateTimeout = 5 * time.Second

// migrateBatch is how many keys one MIGRATE moves in MigrateAll, as
// redis-cli's default --cluster-pipeline.
const migrateBatch = 10

// SlotMove is one slot moving from its master to another, with the
// commands `redis-cli --cluster reshard` sends, one step at a time so that
// a test can act between them (redis-cli offers no pause):
//
//   - StartSlotMove: CLUSTER SETSLOT <slot> IMPORTING <source> on the
//     target, then CLUSTER SETSLOT <slot> MIGRATING <target> on the source.
//     The source still serves the slot; a command whose keys it no longer
//     has is redirected with ASK, and one that has only some of them
//     answered TRYAGAIN.
//   - Migrate, MigrateAll: MIGRATE of keys that CLUSTER GETKEYSINSLOT lists
//     on the source.
//   - Finish: CLUSTER SETSLOT <slot> NODE <target> on the target, the
//     source, then the other masters. The source then unsubscribes the
//     sharded subscribers of the slot's channels (sunsubscribe).
type SlotMove struct {
	Slot     int
	From, To *Server

	c            *Cluster
	fromID, toID string
}

// StartSlotMove begins moving slot from the master serving it to to.
func (c *Cluster) StartSlotMove(slot int, to *Server) *SlotMove {
	c.t.Helper()
	from := c.MasterOf(slot)
	if from == to {
		c.t.Fatalf("redistest: slot %d is on %s already", slot, to.Addr)
	}
	m := &SlotMove{Slot: slot, From: from, To: to, c: c, fromID: c.nodeID(from), toID: c.nodeID(to)}
	s := strconv.Itoa(slot)
	c.must(to, "CLUSTER", "SETSLOT", s, "IMPORTING", m.fromID)
	c.must(from, "CLUSTER", "SETSLOT", s, "MIGRATING", m.toID)
	return m
}

// Keys lists the keys of the slot the source still holds, up to 1,000.
func (m *SlotMove) Keys() []string {
	m.c.t.Helper()
	v := m.c.must(m.From, "CLUSTER", "GETKEYSINSLOT", strconv.Itoa(m.Slot), "1000")
	list, _ := v.([]any)
	keys := make([]string, 0, len(list))
	for _, k := range list {
		s, _ := k.(string)
		keys = append(keys, s)
	}
	return keys
}

// Migrate moves keys from the source to the target in one MIGRATE, which
// is atomic: the source serves nothing else meanwhile.
func (m *SlotMove) Migrate(keys ...string) {
	m.c.t.Helper()
	if len(keys) == 0 {
		return
	}
	host, port, _ := net.SplitHostPort(m.To.Addr)
	args := append([]string{"MIGRATE", host, port, "", "0", strconv.Itoa(int(migrateTimeout.Milliseconds())), "KEYS"}, keys...)
	m.c.must(m.From, args...)
}

// MigrateAll moves the keys the source still holds in the slot, a batch
// at a time, until it holds none.
func (m *SlotMove) MigrateAll() {
	m.c.t.Helper()
	for {
		keys := m.Keys()
		if len(keys) == 0 {
			return
		}
		for len(keys) > 0 {
			n := min(migrateBatch, len(keys))
			m.Migrate(keys[:n]...)
			keys = keys[n:]
		}
	}
}

// Finish gives the slot to the target on every master, target first as
// redis-cli does, and waits until each master says the target serves it
// and the cluster is healthy.
func (m *SlotMove) Finish() {
	m.c.t.Helper()
	s := strconv.Itoa(m.Slot)
	m.c.must(m.To, "CLUSTER", "SETSLOT", s, "NODE", m.toID)
	m.c.must(m.From, "CLUSTER", "SETSLOT", s, "NODE", m.toID)
	for _, o := range m.c.Masters {
		if o != m.To && o != m.From {
			m.c.must(o, "CLUSTER", "SETSLOT", s, "NODE", m.toID)
		}
	}
	m.c.waitFor("every master to give slot "+s+" to "+m.To.Addr, func() error {
		for _, o := range m.c.Masters {
			nodes, err := command(o.Addr, "CLUSTER", "NODES")
			if err != nil {
				return fmt.Errorf("%s: %w", o.Addr, err)
			}
			if id := slotOwner(nodes, m.Slot); id != m.toID {
				return fmt.Errorf("%s says node %q serves slot %d", o.Addr, id, m.Slot)
			}
		}
		return m.c.healthy()
	})
}

// MoveSlot moves slot to master to: StartSlotMove, MigrateAll, Finish.
func (c *Cluster) MoveSlot(slot int, to *Server) {
	c.t.Helper()
	m := c.StartSlotMove(slot, to)
	m.MigrateAll()
	m.Finish()
}

// MasterOf returns the master that serves slot, as the first master
// that answers sees it.
func (c *Cluster) MasterOf(slot int) *Server {
	c.t.Helper()
	var lastErr error
	for _, s := range c.Masters {
		nodes, err := command(s.Addr, "CLUSTER", "NODES")
		if err != nil {
			lastErr = err
			continue
		}
		id := slotOwner(nodes, slot)
		for _, m := range c.Masters {
			if c.nodeID(m) == id {
				return m
			}
		}
		c.t.Fatalf("redistest: %s says node %q serves slot %d: not one of the masters", s.Addr, id, slot)
	}
	c.t.Fatalf("redistest: no master answered CLUSTER NODES: %v", lastErr)
	return nil
}

// nodeID is a master's cluster node id (CLUSTER MYID).
func (c *Cluster) nodeID(s *Server) string {
	c.t.Helper()
	id, err := command(s.Addr, "CLUSTER", "MYID")
	if err != nil {
		c.t.Fatalf("redistest: CLUSTER MYID on %s: %v", s.Addr, err)
	}
	return id
}

// must runs one command on s or fails the test.
func (c *Cluster) must(s *Server, args ...string) any {
	c.t.Helper()
	v, err := do(s.Addr, args...)
	if err != nil {
		c.t.Fatalf("redistest: on %s: %v", s.Addr, err)
	}
	return v
}

// waitFor polls cond until it returns nil, for up to clusterTimeout.
func (c *Cluster) waitFor(what string, cond func() error) {
	c.t.Helper()
	deadline := time.NewTimer(clusterTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			c.t.Fatalf("redistest: %s: not within %v: %v", what, clusterTimeout, err)
		case <-tick.C:
		}
	}
}

// slotOwner is the id of the node that serves slot in a CLUSTER NODES
// reply: each line is "<id> <addr> <flags> <master> <ping> <pong> <epoch>
// <link> <slot ranges>...", where a range is "a-b" or "a", and
// "[a->-id]" or "[a-<-id]" marks a migration, not ownership.
func slotOwner(nodes string, slot int) string {
	for line := range strings.SplitSeq(strings.TrimSpace(nodes), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 {
			continue
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && a <= slot && slot <= b {
				return f[0]
			}
		}
	}
	return ""
}
