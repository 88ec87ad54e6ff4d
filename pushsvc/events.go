package pushsvc

import "github.com/herald-push/herald/pushsvc/engine"

// startEvents sets up the event log's users when the engine keeps one:
// the watchers' hub, the writer of delivery events and, without a
// cluster, the hub's presence events.
func (s *Service) startEvents(e engine.Engine) {
	log, ok := e.(engine.EventLog)
	if !ok {
		return
	}
	s.events = newEventHub(s, log)
	s.undelivered = newEventWriter(s, log)
	go s.undelivered.run(s)
	if s.cluster == nil {
		s.hub.local = &localPresence{svc: s, log: log}
	}
}

// stopEvents cuts the watchers and stops the writer after its last
// attempt, before the engine closes.
func (s *Service) stopEvents() {
	if s.events == nil {
		return
	}
	s.events.close()
	close(s.undelivered.stop)
	<-s.undelivered.stopped
}
