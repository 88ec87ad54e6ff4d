package pushsvc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/memory"
)

// Service is the push service of one node.
type Service struct {
	// immutable after New
	opts     Options
	engine   engine.Engine
	cluster  engine.Cluster // the engine, when several nodes share it; else nil
	presence *presenceQueue // with a cluster
	hub      *hub
	// events fans the engine's event log out to watchers, and undelivered
	// appends this node's delivery events to it; nil when the engine
	// keeps no log.
	events      *eventHub
	undelivered *eventWriter
	// groupsWarn logs, rate-limited, connects that could not read the
	// user's stored groups: during a cluster outage, every connect.
	groupsWarn *rateLimitedWarn
	stats      counters
	started    time.Time
	replays    *replayGroup // goroutines replaying Resumes; stopped by Close

	// snapshotWarn (immutable after New) logs, rate-limited, the stats
	// snapshots of other nodes that cannot be read: at every GetStats.
	snapshotWarn *rateLimitedWarn

	closeOnce sync.Once
}

// New builds a Service.
func New(opts Options) (*Service, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Service{opts: opts, hub: newHub(), started: opts.Now(), replays: newReplayGroup()}
	s.groupsWarn = newRateLimitedWarn(opts.Logger, "group membership unavailable at connect: serving the connection with its token groups")
	s.snapshotWarn = newRateLimitedWarn(opts.Logger, "stats of a node left out: its snapshot cannot be read")
	newEngine := opts.NewEngine
	if newEngine == nil {
		newEngine = func(_ string, h engine.Handler) (engine.Engine, error) {
			return memory.New(memory.Options{
				HistorySize:    opts.HistorySize,
				HistoryTTL:     opts.HistoryTTL,
				Handler:        h,
				Now:            opts.Now,
				EventRetention: opts.EventRetention,
				EventMaxAge:    opts.EventMaxAge,
			})
		}
	}
	e, err := newEngine(opts.NodeID, &node{svc: s})
	if err != nil {
		return nil, fmt.Errorf("pushsvc: engine: %w", err)
	}
	s.engine = e
	if c, ok := e.(engine.Cluster); ok {
		s.cluster = c
		s.hub.forgetOffline = true
		s.presence = newPresenceQueue(s)
		go s.runCluster(c, s.presence)
	}
	s.startEvents(e)
	return s, nil
}

// NodeID returns the node's id.
func (s *Service) NodeID() string { return s.opts.NodeID }

// Close cuts the event watchers, stops the replays of Resumes still
// running and releases the engine. Sessions are closed by their
// transports.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stopEvents()
		s.replays.stop()
		if s.presence != nil {
			close(s.presence.stop)
			<-s.presence.stopped
		}
		err = s.engine.Close()
	})
	return err
}

// Connect registers a new session over t and queues its Welcome frame,
// which is always the first frame it receives, with the positions of the
// streams the session follows (welcome.go).
func (s *Service) Connect(info SessionInfo, t Transport) (*Session, error) {
	if info.UserID == "" {
		return nil, fmt.Errorf("%w: empty user id", ErrInvalidArgument)
	}
	sess := newSession(s, info, t)
	// Positions are read before the session receives the streams they
	// are of: welcome.go says why.
	wr := s.newWelcomeReader(info.UserID)
	wr.beforeJoin(info)
	// Nothing is written before the session is in the hub and its Welcome
	// queued ahead of everything: a client that has its Welcome receives
	// every push published after it. A resume=1 session holds its pushes
	// from before it is in the hub: no live push can slip ahead of the
	// replay.
	//
	// With a cluster, the session joins the hub before its user's stored
	// groups are read, so that no membership change made meanwhile is lost
	// or undone (hub.endRead says why).
	if read := s.hub.add(sess); read != nil {
		ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
		groups, err := s.cluster.UserGroups(ctx, info.UserID)
		cancel()
		if err != nil {
			// Serve the connection anyway: its token groups work, and
			// membership changes from now on reach it.
			s.groupsWarn.warn(s.opts.Now(), "user", info.UserID, "err", err)
		} else {
			wr.beforeStored(sess, groups)
		}
		changed, touched := s.hub.endRead(read, groups, err == nil)
		wr.forget(touched)
		if changed {
			// The user's other sessions here changed groups too: their
			// records show them.
			s.reregister(info.UserID)
		}
	}
	sess.queueWelcome(wr.positions(sess))
	if s.presence != nil {
		s.presence.changed(sess)
	}
	t.Schedule(&sess.w)
	s.stats.connects.Add(1)
	return sess, nil
}

// Disconnected unregisters a session whose transport has closed. It is
// safe to call more than once.
func (s *Service) Disconnected(sess *Session) {
	s.unregister(sess, Disconnect{Code: CodeNormal, Reason: "connection closed"})
}

// PeerClosed unregisters a session whose transport closed without the
// session asking: code and reason are those of the client's close frame,
// of a close the transport made on its own (a lost heartbeat, a protocol
// error), or CodeAbnormal when the connection dropped without one. A close
// the session asked for first keeps its own code. The code is what the
// session's Disconnected (and its user's Offline) event says.
func (s *Service) PeerClosed(sess *Session, code uint16, reason string) {
	s.unregister(sess, Disconnect{Code: code, Reason: reason})
}

// unregister takes sess out of the hub and the presence registry, gone
// being why it closed unless the server closed it first. It does nothing
// the second time.
func (s *Service) unregister(sess *Session, gone Disconnect) {
	d, ok := sess.remove(gone)
	if !ok {
		return
	}
	closed := engine.Closed{At: s.opts.Now(), Code: d.Code, Reason: d.Reason}
	if s.hub.remove(sess, closed) && s.presence != nil {
		s.presence.removed(sess, closed)
	}
}

// errUnavailable wraps an engine failure for callers.
func errUnavailable(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, engine.ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
