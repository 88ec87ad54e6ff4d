package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-push/herald/pushsvc/engine"
)

// ErrClosed is returned by calls on a closed engine. It wraps
// engine.ErrUnavailable: the caller may retry on another node.
var ErrClosed = fmt.Errorf("redis: engine closed: %w", engine.ErrUnavailable)

// unavailable wraps a failed Redis call for callers. Every failure counts as
// engine.ErrUnavailable (unreachable, timed out, loading, read-only replica
// after a failover, out of memory: all worth a retry), except the caller's
// own cancellation, which is returned as it is.
func unavailable(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return fmt.Errorf("redis: %s: %w: %w", op, engine.ErrUnavailable, err)
}
