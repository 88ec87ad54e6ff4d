package pushsvc

import "sync"

// writer is a session's Writer, the last stage of a push: the transport
// runs its Flush on the connection's writer whenever the session schedules
// it (writer idle → scheduled), one at a time.
type writer struct {
	s *Session // immutable after newSession
}

// Flush implements Writer: it takes everything queued, writes it
// (batching pushes) without holding the session's lock, and then either
// schedules itself again for what arrived meanwhile or, with nothing
// left, lets the writer go idle and, when a graceful close is pending,
// closes the transport.
func (w *writer) Flush() {
	s := w.s
	s.mu.Lock()
	s.flushingLocked()
	items := s.q.take()
	dropped := s.dropsQueueLocked()
	s.mu.Unlock()

	if !dropped && len(items) > 0 {
		s.write(items)
	}

	s.mu.Lock()
	s.q.written(items)
	s.wakeReplayLocked()
	if len(s.q.frames) > 0 && !s.dropsQueueLocked() {
		s.mu.Unlock()
		s.t.Schedule(w)
		return
	}
	s.writerDoneLocked()
	d, closeNow := s.drainedLocked()
	s.mu.Unlock()
	if closeNow {
		s.t.Close(d)
	}
}

// write writes items in order: a lone frame as it is (shared frames through
// the transport's prepared form), runs of pushes as PushBatch frames, or,
// on a compressed session, runs of shared pushes through WriteSharedRun.
// It stops at a write error: the transport closes itself and the rest is
// dropped with the connection.
func (s *Session) write(items []*Outbound) {
	var frames, raw uint64
	for i := 0; i < len(items); {
		j, size := s.runEnd(items, i)
		o := items[i]
		var err error
		switch {
		case j-i == 1:
			raw += uint64(len(o.data))
			frames++
			if o.shared {
				err = s.t.WriteShared(o)
			} else {
				err = s.t.Write(o.data)
			}
		case o.shared && s.info.Compressed:
			raw += uint64(size)
			frames += uint64(j - i)
			err = s.t.WriteSharedRun(items[i:j])
		default:
			bp := batchBufs.Get().(*[]byte)
			buf := appendBatch((*bp)[:0], items[i:j])
			raw += uint64(len(buf))
			frames++
			err = s.t.Write(buf)
			*bp = buf
			batchBufs.Put(bp)
			s.svc.stats.batches.Add(1)
		}
		if err != nil {
			break
		}
		i = j
	}
	s.svc.stats.messagesOut.Add(frames)
	s.svc.stats.bytesOutRaw.Add(raw)
}

// runEnd finds the run starting at items[i] that one write takes: a lone
// frame, or consecutive pushes within MaxBatchBytes. On a compressed
// session shared and unshared pushes do not mix, since they are written
// differently. It returns the run's end and its bytes.
func (s *Session) runEnd(items []*Outbound, i int) (int, int) {
	first := items[i]
	size := len(first.data)
	if first.push == nil {
		return i + 1, size
	}
	j := i + 1
	for ; j < len(items); j++ {
		o := items[j]
		if o.push == nil || size+len(o.data) > s.svc.opts.MaxBatchBytes ||
			(s.info.Compressed && o.shared != first.shared) {
			break
		}
		size += len(o.data)
	}
	return j, size
}

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
