package memory

import "time"

// streamIDs are the idempotent message ids a stream published within the
// history TTL, with their offsets. Memory grows with the idempotent pushes
// of one history TTL, as the number of streams does, and no further: ids
// leave in publication order once they are a TTL old (at the stream's next
// publish, or at the janitor's sweep).
//
// Guarded by the stream's mu.
type streamIDs struct {
	offsets map[string]uint64 // id -> offset of its publication
	order   []idAt            // the ids in publication order, from head
	head    int
}

// idAt is when an id was published.
type idAt struct {
	id string
	at time.Time
}

// lookup returns the offset id was published at, if it was.
func (r *streamIDs) lookup(id string) (uint64, bool) {
	off, ok := r.offsets[id]
	return off, ok
}

// record notes that id was published at offset at time at.
func (r *streamIDs) record(id string, offset uint64, at time.Time) {
	if r.offsets == nil {
		r.offsets = make(map[string]uint64)
	}
	r.offsets[id] = offset
	r.order = append(r.order, idAt{id: id, at: at})
}

// expire forgets the ids published ttl or longer before now.
func (r *streamIDs) expire(now time.Time, ttl time.Duration) {
	for r.head < len(r.order) && now.Sub(r.order[r.head].at) >= ttl {
		delete(r.offsets, r.order[r.head].id)
		r.order[r.head] = idAt{}
		r.head++
	}
	switch {
	case r.head == len(r.order):
		// Empty: drop the arrays too, most streams see one push.
		*r = streamIDs{}
	case r.head > len(r.order)/2:
		// Compact, so that the array does not grow with every id ever
		// published, only with those of one TTL.
		n := copy(r.order, r.order[r.head:])
		clear(r.order[n:])
		r.order, r.head = r.order[:n], 0
	}
}
