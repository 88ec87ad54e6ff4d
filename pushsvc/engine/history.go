package engine

import "time"

// History settings every engine reads the same way: in an engine's
// Options, a zero HistorySize or HistoryTTL means the default below, and a
// negative HistorySize (NoHistory) keeps none.
const (
	// DefaultHistorySize is how many publications a stream keeps for
	// resume: at about 300 bytes per 100-byte push, 1000 cost some 300
	// KiB for a busy stream (memory engine's HistoryMemory benchmark).
	DefaultHistorySize = 1000
	// DefaultHistoryTTL is how long a publication stays resumable, and
	// how long an idempotent message id is remembered.
	DefaultHistoryTTL = 5 * time.Minute
	// NoHistory as a HistorySize keeps no history: resume then recovers
	// nothing that was missed. Any negative size means the same.
	NoHistory = -1
)
