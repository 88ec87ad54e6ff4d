package pushsvc

import "time"

// Transport is the socket under a session, provided by the WebSocket
// adapter. Write, WriteShared and WriteSharedRun are called only from the
// session's Writer, which the transport runs (Schedule), so one writer at a
// time touches the socket. What they write may reach the socket after they
// return (the WebSocket adapter collects a flush's frames and writes them
// in one go once Flush returns), but in the order they were called, and
// before anything a later Flush writes or the Disconnect of Close.
type Transport interface {
	// Schedule runs w.Flush soon on the connection's writer, after
	// everything scheduled before it. It must not block. For one session
	// w is always the same Writer, and calls never overlap: the first
	// comes from Service.Connect, and each later one after the Flush
	// before it was scheduled (a session has at most one flush scheduled
	// or running). A transport may therefore keep w.Flush from the first
	// call, rather than make a method value, which allocates, per call.
	Schedule(w Writer)
	// Write writes one encoded ServerFrame. The transport must not keep
	// frame after Write returns.
	Write(frame []byte) error
	// WriteShared writes a frame queued to many sessions, preparing (and
	// compressing) it once for all of them through o.Prepared.
	WriteShared(o *Outbound) error
	// WriteSharedRun writes several frames as WriteShared does, each its
	// own message prepared once for every session. Compressed sessions use
	// it for runs of broadcast pushes: a PushBatch would be unique to the
	// session, and compressing it per session would undo compress-once.
	WriteSharedRun(os []*Outbound) error
	// Close sends d as a Disconnect frame where the socket still works,
	// then closes with d.Code. It may be called from any goroutine, more
	// than once; only the first call counts. The session writes nothing
	// after it.
	Close(d Disconnect)
}

// Writer is what a Transport runs on its connection's writer: a session's
// flush (writer.go), which writes what the session has queued.
type Writer interface {
	Flush()
}

// SessionInfo describes a connection as the WebSocket adapter accepted it.
type SessionInfo struct {
	// UserID is the token's subject. Required.
	UserID string
	// Groups are the groups from the token, joined at connect.
	Groups []string
	// RemoteAddr and UserAgent are shown by presence.
	RemoteAddr string
	UserAgent  string
	// Compressed is true when permessage-deflate was negotiated.
	Compressed bool
	// TokenExpiry is when the token expires; zero when it does not.
	TokenExpiry time.Time
	// HeartbeatInterval is how often the transport checks that the client
	// is there; the Welcome frame tells the client. Zero: not told.
	HeartbeatInterval time.Duration
	// OnRefresh, when set, checks a RefreshToken frame's token; an error is
	// reported to the client in an Error frame.
	OnRefresh func(token string) error
	// AwaitResume says the client announced a Resume as its first frame:
	// live pushes are held until it arrives (or Options.ResumeWait passes),
	// so that the replay and live traffic meet with no gap, no duplicate
	// and in order.
	AwaitResume bool
}
