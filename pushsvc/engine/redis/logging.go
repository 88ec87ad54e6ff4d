package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// routeClientLogs sends go-redis's own log lines (for example its pool's
// failed dials while Redis is down) to slog at debug level instead of
// unstructured lines on stderr. go-redis has one process-wide logger, so
// the first engine's logger gets them.
var routeClientLogs sync.Once

type clientLogger struct{ log *slog.Logger }

func (l clientLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "engine", "redis", "source", "go-redis")
}

func useClientLogger(log *slog.Logger) {
	routeClientLogs.Do(func() { goredis.SetLogger(clientLogger{log: log}) })
}
