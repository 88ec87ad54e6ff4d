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
//     traffic reaches the app once. A stream it has received nothing from
//     yet gets its position from the Welcome (Welcome.streams), so that
//     what is pushed to it while the client is away is resumed too.
//   - Never moves past a gap in a stream's offsets without asking for it
//     (see Gaps below).
//   - Drops a connection from which nothing (message, ping or pong) arrived
//     for three heartbeat intervals (Welcome.heartbeat_interval), using the
//     socket's read deadline, and answers the server's pings.
//
// # Gaps
//
// A stream's offsets grow by one per push, so a client sees when it missed
// one. These rules are the SDK's contract; other Herald SDKs follow them.
//
//  1. Per stream the client keeps the last push delivered (offset, epoch)
//     and a coverage: an offset in that epoch up to which the server, in a
//     ResumeResult with recovered=true, said it has sent every push meant
//     for this client. Each Welcome gives the position of every stream the
//     connection follows, read before the connection received any of them;
//     the client takes it for each stream it has no position in, and keeps
//     the one it has (whichever way they differ). A stream never published
//     is at offset 0 with no epoch.
//  2. A push is delivered when the client has no position in its stream (a
//     group joined after the connect: its first push is the first the
//     client gets), when its epoch is not the position's (a new epoch, or
//     no epoch: the server had nothing of the stream) and its offset is 1,
//     when its offset is the last one plus 1, or when it is above the last
//     one and the offsets skipped are within the coverage. A push at or
//     below the last offset of the same epoch is a duplicate and is
//     dropped. Pushes without a stream or with offset 0 are delivered as
//     they come. A marker (Push.excluded: a group push that excluded this
//     client's user, live or replayed) counts as a push for all of these
//     rules and moves the position, but never reaches the app (nor an Ack
//     of its own: an Ack of a later push covers it). With markers, skipped
//     offsets within the coverage come only from a node that sends none
//     (one older than markers, in a cluster being upgraded).
//  3. Any other push opens a gap: the client holds it and sends a Resume
//     naming that stream alone, with the last position delivered (offset
//     0 and the new epoch when the gap is at the start of a new epoch).
//     While the gap is open, every push of the stream is held, sorted by
//     offset, each once; other streams flow.
//  4. The answer is matched by stream: ResumeResult frames carry no
//     request id, and the server answers Resumes in the order they were
//     sent, so the first answer naming the stream is for the oldest of
//     its Resumes not yet answered or given up on. An answer to a Resume
//     given up on is ignored.
//  5. recovered=true: its offset becomes the coverage, and the replay
//     follows it, oldest first (a Resume from offset 0 with no epoch is
//     answered with the epoch the stream has now, which the replay is
//     of). Each replayed push, and each held push the replay has passed,
//     is delivered by rule 2; since the replay is in order, offsets
//     skipped below the highest one replayed are covered.
//     The replay is over when a push of the stream above the answer's
//     offset (or of another epoch) arrives, or when none of the stream has
//     arrived for FillTimeout. Then held pushes that rule 2 accepts are
//     delivered; if a hole remains and this round delivered or covered
//     anything, the client asks again from where it is; otherwise it gives
//     up (rule 6). The gap closes when nothing is held.
//  6. Giving up: on recovered=false, on no answer within FillTimeout, on a
//     round that filled nothing, or when more than FillBuffer pushes of
//     the stream would be held, the client calls OnResumeFailed with the
//     stream, recovered=false, and the position it goes on from: just
//     before the first held push (when nothing is held: the server's
//     position on recovered=false, else the last delivered). Then it
//     delivers the held pushes in order and moves on.
//  7. The Resume sent when a connection opens is handled as a gap of every
//     stream it names, with nothing held yet. A connection that ends
//     drops its gaps and held pushes: the next connection's Resume starts
//     from the last position delivered, before any gap.
//  8. Pushes of other epochs that arrive while a gap is open are held
//     apart and handled, in order, after the gap closes.
//
// One consequence: a client whose user left a group and joined it again
// sees the pushes sent meanwhile as a gap, and receives them, as it would
// after a reconnect; if the server answered a Resume while the client was
// out of the group (not recovered, offset 0, no epoch), the gap reaches
// back to the stream's start, as far as history holds it.
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
//     stream positions and gaps, calls OnPush, OnResumeFailed, OnError and
//     OnState(Connected), answers pings, sends automatic Acks, and pushes
//     the read deadline forward.
//   - App goroutines may call Ack, RefreshToken, Positions, State and Close
//     at any time; Ack and RefreshToken write on the live connection, and
//     gws serialises writers.
//   - context.AfterFunc briefly runs one to interrupt a handshake on Close.
//   - While a gap waits for the server, a timer (nudger) briefly runs one at
//     its deadline to send a WebSocket ping: the pong wakes the ReadLoop,
//     which acts on the deadline; OnClose stops the timer and waits for it.
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
