// Package client is the Go client SDK for Herald: it holds a WebSocket to a
// Herald server, receives pushes, and keeps doing so across network drops,
// server restarts and drains without losing or repeating a push.
//
//	c, err := client.Dial(ctx, client.Options{
//		URL:    "wss://push.example.com/ws",
//		Token:  func(ctx context.Context) (string, error) { return myBackend.Token(ctx) },
//		OnPush: func(p *clientv1.Push) { handle(p.Topic, p.Payload) },
//	})
//	...
//	defer c.Close(ctx)
//
// # What the client does
//
//   - Connects with "Authorization: Bearer <token>", asking Options.Token for
//     a token on every connect, and offers permessage-deflate (no context
//     takeover) unless Options.DisableCompression.
//   - Reconnects after any loss with exponential backoff and full jitter
//     (Options.MinBackoff, MaxBackoff), starting over once a connection
//     stayed up Options.StableAfter. It honours the server's Disconnect
//     frame: it waits reconnect_after when given, and stops for good (state
//     Closed, ErrDisconnected) when reconnect is false.
//   - Tracks, per stream, the last offset and epoch delivered, sends them as
//     Resume first thing on every connection, reports the streams the server
//     could not replay (Options.OnResumeFailed), and drops any push at or
//     below the position already delivered, so a replay overlapping live
//     traffic reaches the app once.
//   - Drops a connection from which nothing (message, ping or pong) arrived
//     for three heartbeat intervals (Welcome.heartbeat_interval), using the
//     socket's read deadline, and answers the server's pings.
//
// # Concurrency
//
// Goroutines, and what each owns:
//
//   - The run loop (one per Client, from Start until the client is closed)
//     owns the connect/reconnect cycle and the backoff: it calls
//     Options.Token, dials, writes Resume, starts the connection's ReadLoop,
//     waits for it to end, and decides when to reconnect. It is the only
//     goroutine that starts or waits for a connection.
//   - gws's ReadLoop (one per connection, started and waited for by the run
//     loop) owns that connection's read side: it decodes frames, updates
//     stream positions, calls OnPush, OnResumeFailed, OnError and
//     OnState(Connected), answers pings, sends automatic Acks, and pushes
//     the read deadline forward.
//   - App goroutines may call Ack, RefreshToken, Positions, State and Close
//     at any time; Ack and RefreshToken write on the live connection, and
//     gws serialises writers.
//   - context.AfterFunc briefly runs one to interrupt a handshake on Close.
//
// Close cancels the run loop, which closes the live connection with 1000,
// waits for its ReadLoop, reports Closed and returns; Close waits for that.
// No goroutine outlives Close.
//
// Callbacks (OnPush, OnState, OnResumeFailed, OnError) are never called
// concurrently with each other: the run loop calls OnState only while no
// connection's ReadLoop is running, and the ReadLoop calls the rest. They
// run on the client's goroutines, so they must not block for long (a slow
// OnPush stalls reading and the server drops slow consumers, code 4003)
// and must not call Close, which would wait for them to return; call it
// from another goroutine. Options.Token runs on the run loop.
package client
