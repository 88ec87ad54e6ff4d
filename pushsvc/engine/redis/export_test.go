package redis

// Test hooks, compiled only into this package's tests.

// Kill stops the engine as a killed process would: its goroutines end and
// its connections close, but its records stay in Redis.
func (e *Engine) Kill() { _ = e.shutdown(false) }

// HoldReconnect keeps the receiver from subscribing again until release
// is called.
func (e *Engine) HoldReconnect() (release func()) {
	g := make(chan struct{})
	e.gate.Store(&g)
	return func() {
		e.gate.Store(nil)
		close(g)
	}
}

// DropSubscription closes the receiver's connection, as a network failure
// between this node and Redis would.
func (e *Engine) DropSubscription() {
	if ps := e.sub.Load(); ps != nil {
		_ = ps.Close()
	}
}

// Subscribed reports whether the receiver is subscribed.
func (e *Engine) Subscribed() bool { return e.subscribed.Load() }
