package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// The event log: one Redis stream per partition (eventscripts.go says
// how), appended by scripts and read in one pipeline of plain commands. A
// cursor holds the last id read in each partition and a fingerprint of
// the sixteen epochs, so that a cursor of a log Redis lost (a restart
// without persistence, a master of a Redis Cluster that came back empty)
// is refused.

var _ engine.EventLog = (*Engine)(nil)

// evMaxLen is each partition's MAXLEN: a sixteenth of the retention.
func (e *Engine) evMaxLen() int { return max((e.opts.EventRetention+numPartitions-1)/numPartitions, 1) }

func (e *Engine) evMaxAgeMillis() int64 { return e.opts.EventMaxAge.Milliseconds() }

// AppendEvents implements engine.EventLog: the events of each partition
// in one script, the partitions in one pipeline.
func (e *Engine) AppendEvents(ctx context.Context, evs []engine.Event) error {
	if e.closed() {
		return ErrClosed
	}
	if len(evs) == 0 {
		return nil
	}
	var byPart [numPartitions][]any
	for i := range evs {
		p := partitionOf(engine.UserStream(evs[i].UserID))
		f := eventFields(&evs[i])
		byPart[p] = append(byPart[p], len(f))
		byPart[p] = append(byPart[p], f...)
	}
	var calls []*scriptCall
	for p := range numPartitions {
		if len(byPart[p]) > 0 {
			calls = append(calls, &scriptCall{script: appendScript, keys: []string{e.keys.ev[p], e.keys.evm[p]},
				args: append([]any{randomID(), e.evMaxLen(), e.evMaxAgeMillis()}, byPart[p]...)})
		}
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	if err := e.evalAll(cctx, nil, calls); err != nil {
		return unavailable(ctx, "append events", err)
	}
	return nil
}

// eventFields are ev's fields as the log stores them, kind first.
func eventFields(ev *engine.Event) []any {
	f := make([]any, 0, 16)
	add := func(k, v string) {
		if v != "" {
			f = append(f, k, v)
		}
	}
	add(fKind, strconv.Itoa(int(ev.Kind)))
	add(fAt, strconv.FormatInt(ev.At.UnixMilli(), 10))
	add(fNode, ev.NodeID)
	add(fUser, ev.UserID)
	add(fSession, ev.SessionID)
	add(fSessionNode, ev.SessionNode)
	if ev.Code != 0 {
		add(fCode, strconv.Itoa(int(ev.Code)))
	}
	add(fReason, ev.Reason)
	if ev.Duration != 0 {
		add(fDuration, strconv.FormatInt(ev.Duration.Milliseconds(), 10))
	}
	add(fMessage, ev.MessageID)
	add(fStream, ev.Stream)
	if ev.Offset != 0 {
		add(fOffset, strconv.FormatUint(ev.Offset, 10))
	}
	add(fTopic, ev.Topic)
	if ev.Why != 0 {
		add(fWhy, strconv.Itoa(int(ev.Why)))
	}
	return f
}

// EventsHead implements engine.EventLog.
func (e *Engine) EventsHead(ctx context.Context) (engine.Cursor, error) {
	if e.closed() {
		return engine.Cursor{}, ErrClosed
	}
	parts, err := e.readParts(ctx, nil, engine.Cursor{}, 0)
	if err != nil {
		return engine.Cursor{}, err
	}
	c := engine.Cursor{Log: fingerprint(parts), Parts: make([]engine.EventID, numPartitions)}
	for p, r := range parts {
		c.Parts[p] = r.last
	}
	return c, nil
}

// ReadEvents implements engine.EventLog. Each partition gives up to a
// sixteenth of limit; the events are sorted by millisecond, then
// partition (seqs count each partition's events on their own and do not
// compare across partitions), so a partition's stay in order and those of
// different users come in time order within one read; across reads, a
// partition with a long backlog may give events older than another's
// given before. Reading 50,000 events in pages of 512 on a standalone
// Redis took 11.7 s when every partition gave limit (sixteen times what
// was kept) through a script, 0.26 s with a share each and plain commands
// (readParts).
func (e *Engine) ReadEvents(ctx context.Context, after, upTo engine.Cursor, limit int) ([]engine.Event, error) {
	if e.closed() {
		return nil, ErrClosed
	}
	if len(after.Parts) != numPartitions || (!upTo.IsZero() && len(upTo.Parts) != numPartitions) {
		return nil, engine.ErrCursorExpired // another engine's, or another layout's
	}
	share := 0
	if limit > 0 {
		share = (limit + numPartitions - 1) / numPartitions
	}
	parts, err := e.readParts(ctx, after.Parts, upTo, share)
	if err != nil {
		return nil, err
	}
	if fingerprint(parts) != after.Log {
		return nil, fmt.Errorf("%w: the log started over", engine.ErrCursorExpired)
	}
	var out []engine.Event
	for p, r := range parts {
		if r.err != nil {
			return nil, fmt.Errorf("%w: partition %d: %w", engine.ErrCursorExpired, p, r.err)
		}
		out = append(out, r.events...)
	}
	slices.SortFunc(out, func(a, b engine.Event) int {
		return cmp.Or(cmp.Compare(a.ID.Ms, b.ID.Ms), cmp.Compare(a.Part, b.Part), cmp.Compare(a.ID.Seq, b.ID.Seq))
	})
	if len(out) > limit {
		// Cut: what is left out is read again next time, from where
		// the caller's cursor stops in its partition.
		out = out[:limit]
	}
	return out, nil
}

// Why a cursor is not in a partition's log.
var (
	errAhead   = errors.New("the cursor is ahead of the log")
	errTrimmed = errors.New("events after the cursor were trimmed")
)

// partRead is what readParts found in one partition.
type partRead struct {
	epoch  string
	last   engine.EventID // the partition's last event when read
	events []engine.Event
	err    error // errAhead or errTrimmed
}

// readParts reads every partition in one pipeline, without scripts (a
// script returning entries cost nine times the XRANGE it ran, 180 us
// against 20 in INFO commandstats, converting them through Lua): per
// partition, the meta hash (its epoch drawn first
// if it has none), then up to count entries after after[p] (from the
// start when after is nil), none past upTo's. The meta is read before the
// entries, and entries leave only from the head (trimming), so: entries
// that do not start right after after[p], or none while the meta had
// some after it, mean trimmed; after[p] past the meta's last, ahead. With
// count 0 it reads the metas alone: the head.
func (e *Engine) readParts(ctx context.Context, after []engine.EventID, upTo engine.Cursor, count int) ([]partRead, error) {
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	pipe := e.client.Pipeline()
	metas := make([]*goredis.SliceCmd, numPartitions)
	ranges := make([]*goredis.XMessageSliceCmd, numPartitions)
	from := make([]engine.EventID, numPartitions)
	for p := range numPartitions {
		if after != nil {
			from[p] = after[p]
		}
		pipe.HSetNX(cctx, e.keys.evm[p], "e", randomID())
		metas[p] = pipe.HMGet(cctx, e.keys.evm[p], "e", "n", "ms")
		end := "+"
		if !upTo.IsZero() {
			if upTo.Parts[p].Compare(from[p]) <= 0 {
				continue // nothing to read here
			}
			end = formatID(upTo.Parts[p])
		}
		if count > 0 {
			ranges[p] = pipe.XRangeN(cctx, e.keys.ev[p], "("+formatID(from[p]), end, int64(count))
		}
	}
	if _, err := pipe.Exec(cctx); err != nil {
		return nil, unavailable(ctx, "read events", err)
	}
	out := make([]partRead, numPartitions)
	for p := range numPartitions {
		r := &out[p]
		vals := metas[p].Val()
		if len(vals) != 3 {
			return nil, fmt.Errorf("redis: read events: %w: unexpected meta %v", engine.ErrUnavailable, vals)
		}
		r.epoch, _ = vals[0].(string)
		n, _ := vals[1].(string)
		ms, _ := vals[2].(string)
		r.last.Seq, _ = strconv.ParseUint(n, 10, 64)
		r.last.Ms, _ = strconv.ParseUint(ms, 10, 64)
		if after == nil {
			continue
		}
		if from[p].Seq > r.last.Seq {
			r.err = errAhead
			continue
		}
		if ranges[p] == nil {
			continue
		}
		msgs := ranges[p].Val()
		if (len(msgs) == 0 && from[p].Seq < r.last.Seq) || (len(msgs) > 0 && !startsAt(msgs[0].ID, from[p].Seq+1)) {
			r.err = errTrimmed
			continue
		}
		r.events = make([]engine.Event, 0, len(msgs))
		for _, m := range msgs {
			ev, err := parseEvent(p, m.ID, m.Values)
			if err != nil {
				return nil, fmt.Errorf("redis: read events: %w: %w", engine.ErrUnavailable, err)
			}
			r.events = append(r.events, ev)
		}
	}
	return out, nil
}

// startsAt reports whether stream entry id has seq seq.
func startsAt(id string, seq uint64) bool {
	got, err := parseID(id)
	return err == nil && got.Seq == seq
}

// parseEvent decodes one log entry.
func parseEvent(p int, id string, fields map[string]any) (engine.Event, error) {
	ev := engine.Event{Part: p}
	var err error
	if ev.ID, err = parseID(id); err != nil {
		return ev, err
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	for k, f := range fields {
		v, _ := f.(string)
		switch k {
		case fKind:
			ev.Kind = engine.EventKind(num(v))
		case fAt:
			ev.At = time.UnixMilli(int64(num(v)))
		case fNode:
			ev.NodeID = v
		case fUser:
			ev.UserID = v
		case fSession:
			ev.SessionID = v
		case fSessionNode:
			ev.SessionNode = v
		case fCode:
			ev.Code = uint16(num(v))
		case fReason:
			ev.Reason = v
		case fDuration:
			ev.Duration = time.Duration(num(v)) * time.Millisecond
		case fMessage:
			ev.MessageID = v
		case fStream:
			ev.Stream = v
		case fOffset:
			ev.Offset = num(v)
		case fTopic:
			ev.Topic = v
		case fWhy:
			ev.Why = engine.UndeliveredReason(num(v))
		}
	}
	return ev, nil
}

func parseID(id string) (engine.EventID, error) {
	a, b, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return engine.EventID{}, fmt.Errorf("bad event id %q", id)
	}
	return engine.EventID{Ms: ms, Seq: seq}, nil
}

func formatID(id engine.EventID) string {
	return strconv.FormatUint(id.Ms, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}

// fingerprint names the life of the whole log: a hash of its sixteen
// epochs, never 0.
func fingerprint(parts []partRead) uint64 {
	h := fnv.New64a()
	for _, r := range parts {
		h.Write([]byte(r.epoch))
		h.Write([]byte{0})
	}
	return h.Sum64() | 1
}

// scriptCall is one script to run by evalAll, and its result.
type scriptCall struct {
	script *goredis.Script
	keys   []string
	args   []any
	cmd    *goredis.Cmd
}

// evalAll runs what pre queues (commands safe to send once), then each
// call with EVALSHA, in one pipeline. When Redis answered NOSCRIPT to
// some calls (a restart emptied its script cache: they did not run) and
// everything else succeeded, it loads their scripts and runs those calls
// once more; nothing is run twice. It returns the first error left.
func (e *Engine) evalAll(ctx context.Context, pre func(goredis.Pipeliner), calls []*scriptCall) error {
	pipe := e.client.Pipeline()
	if pre != nil {
		pre(pipe)
	}
	for _, c := range calls {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	var again []*scriptCall
	for _, c := range calls {
		if isNoScript(c.cmd.Err()) {
			again = append(again, c)
		}
	}
	for _, cmd := range cmds {
		if cmd.Err() != nil && !isNoScript(cmd.Err()) {
			return cmd.Err()
		}
	}
	loaded := map[*goredis.Script]bool{}
	pipe = e.client.Pipeline()
	for _, c := range again {
		if !loaded[c.script] {
			if lerr := c.script.Load(ctx, e.client).Err(); lerr != nil {
				return lerr
			}
			loaded[c.script] = true
		}
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, err = pipe.Exec(ctx)
	return err
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
