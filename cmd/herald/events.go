package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/grpcapi"
)

var eventsHelp = helpText{
	about: `Watch the cluster's presence and delivery events (WatchEvents) through any
node and print one line per event: "<time> <kind> <user> key=value...
cursor=<cursor>". When the stream breaks (the node restarts or drains, the
watcher was too slow) it reconnects with backoff and resumes after the
last cursor it printed. With no --api-key it calls with the first key of
$HERALD_API_KEY that may watch events, else the dev credentials' key.

Exit status: 0 after SIGINT or SIGTERM; 1 when the node refuses the key
or the request, or when the cursor is past the event log's retention
(resync your state, then run without --cursor); 2 for a bad command line.`,
}

// Reconnect backoff of `herald events` after a broken stream.
const (
	eventsMinBackoff = 200 * time.Millisecond
	eventsMaxBackoff = 5 * time.Second
)

// eventKinds are the names --kinds takes.
var eventKinds = map[string]pushv1.EventKind{
	"online":       pushv1.EventKind_EVENT_KIND_ONLINE,
	"offline":      pushv1.EventKind_EVENT_KIND_OFFLINE,
	"connected":    pushv1.EventKind_EVENT_KIND_CONNECTED,
	"disconnected": pushv1.EventKind_EVENT_KIND_DISCONNECTED,
	"undelivered":  pushv1.EventKind_EVENT_KIND_UNDELIVERED,
}

// events watches a node's WatchEvents stream and prints one line per
// event, its cursor last, until SIGINT or SIGTERM. When the stream breaks
// (the node restarts or drains, the watcher was too slow) it reconnects
// with backoff and resumes after the last cursor it printed; a cursor
// past the log's retention ends it with an error.
func events(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := newFlagSet("events")
	addr := fs.String("grpc-addr", os.Getenv(server.EnvName("grpc-addr")), "gRPC address of any node (default: $HERALD_GRPC_ADDR, else 127.0.0.1:9090)")
	key := fs.String("api-key", "", "API key with scope admin or events (default: the first such key of $HERALD_API_KEY, else the dev credentials')")
	devPath := fs.String("dev-credentials", os.Getenv(server.EnvName("dev-credentials")), devCredentialsUsage)
	kinds := fs.String("kinds", "", "comma-separated kinds: online, offline, connected, disconnected, undelivered (default: all)")
	users := fs.String("users", "", "comma-separated user ids (default: every user)")
	cursor := fs.String("cursor", "", "resume after this cursor (default: from now on)")
	useTLS := fs.Bool("tls", false, "connect with TLS, trusting the system's roots")
	caFile := fs.String("tls-ca", "", "connect with TLS, trusting this CA (PEM)")
	if helped, err := parseArgs(fs, args, eventsHelp, out); helped || err != nil {
		return err
	}
	if *addr == "" {
		*addr = "127.0.0.1:9090"
	}
	req := &pushv1.WatchEventsRequest{UserIds: splitList(*users), Cursor: *cursor}
	for _, k := range splitList(*kinds) {
		kind, ok := eventKinds[k]
		if !ok {
			return usageError{fmt.Errorf("--kinds: %q is not a kind: online, offline, connected, disconnected or undelivered", k)}
		}
		req.Kinds = append(req.Kinds, kind)
	}
	apiKey := *key
	if apiKey == "" {
		apiKey = eventsAPIKey(os.Getenv(server.EnvName("api-key")))
	}
	if apiKey == "" {
		dev, err := devCredentials(*devPath)
		if err != nil {
			return err
		}
		apiKey = dev.APIKey
	}
	creds := insecure.NewCredentials()
	if *useTLS || *caFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				return usageError{fmt.Errorf("--tls-ca: %w", err)}
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return usageError{fmt.Errorf("--tls-ca: %s holds no PEM certificate", *caFile)}
			}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(grpcapi.Bearer(apiKey)))
	if err != nil {
		return usageError{fmt.Errorf("--grpc-addr: %w", err)}
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return watchLoop(ctx, pushv1.NewPushServiceClient(conn), req, out, errOut)
}

// watchLoop runs streams of req until ctx ends, each resuming after the
// last cursor printed.
func watchLoop(ctx context.Context, api pushv1.PushServiceClient, req *pushv1.WatchEventsRequest, out, errOut io.Writer) error {
	backoff := eventsMinBackoff
	for {
		printed, err := watchOnce(ctx, api, req, out)
		if ctx.Err() != nil {
			return nil
		}
		if printed {
			backoff = eventsMinBackoff
		}
		switch status.Code(err) {
		case codes.FailedPrecondition:
			return fmt.Errorf("%v\n(the events after the cursor are gone: resync your state, then run without --cursor)", status.Convert(err).Message())
		case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.Unimplemented:
			return errors.New(status.Convert(err).Message())
		}
		// Full jitter: many watchers of a node that went away do not come
		// back at once.
		wait := rand.N(backoff) + time.Millisecond
		from := req.GetCursor()
		if from == "" {
			from = "now"
		}
		fmt.Fprintf(errOut, "-- stream ended (%s: %s); resuming after cursor %s in %v\n",
			status.Code(err), status.Convert(err).Message(), from, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, eventsMaxBackoff)
	}
}

// watchOnce runs one stream, printing its events and moving req's cursor
// past each, until it breaks. It reports whether it printed any.
func watchOnce(ctx context.Context, api pushv1.PushServiceClient, req *pushv1.WatchEventsRequest, out io.Writer) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := api.WatchEvents(ctx, req)
	if err != nil {
		return false, err
	}
	printed := false
	for {
		res, err := st.Recv()
		if err != nil {
			return printed, err
		}
		for _, ev := range res.GetEvents() {
			if _, err := fmt.Fprintln(out, formatEvent(ev)); err != nil {
				return printed, status.Error(codes.Aborted, err.Error())
			}
			req.Cursor, printed = ev.GetCursor(), true
		}
	}
}

// formatEvent writes an event as one line: its time, kind and user, the
// details as key=value, and its cursor last.
func formatEvent(ev *pushv1.Event) string {
	var b strings.Builder
	b.WriteString(ev.GetAt().AsTime().UTC().Format("2006-01-02T15:04:05.000Z"))
	kv := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	word := func(s string) { b.WriteString(" " + s) }
	switch k := ev.GetKind().(type) {
	case *pushv1.Event_Online:
		word("online")
		word(k.Online.GetUserId())
	case *pushv1.Event_Offline:
		word("offline")
		word(k.Offline.GetUserId())
		kv("online_for", k.Offline.GetOnlineFor().AsDuration())
		kv("code", k.Offline.GetCode())
	case *pushv1.Event_Connected:
		word("connected")
		word(k.Connected.GetUserId())
		kv("session", k.Connected.GetSessionId())
		kv("on", k.Connected.GetNodeId())
	case *pushv1.Event_Disconnected:
		word("disconnected")
		word(k.Disconnected.GetUserId())
		kv("session", k.Disconnected.GetSessionId())
		kv("on", k.Disconnected.GetNodeId())
		kv("code", k.Disconnected.GetCode())
		kv("reason", fmt.Sprintf("%q", k.Disconnected.GetReason()))
		kv("duration", k.Disconnected.GetDuration().AsDuration())
	case *pushv1.Event_Undelivered:
		u := k.Undelivered
		word("undelivered")
		word(u.GetUserId())
		kv("why", strings.ToLower(strings.TrimPrefix(u.GetReason().String(), "UNDELIVERED_REASON_")))
		kv("message", u.GetMessageId())
		kv("stream", u.GetStream())
		kv("offset", u.GetOffset())
		kv("topic", fmt.Sprintf("%q", u.GetTopic()))
		if u.GetSessionId() != "" {
			kv("session", u.GetSessionId())
		}
	default:
		word("unknown")
	}
	kv("node", ev.GetNodeId())
	kv("cursor", ev.GetCursor())
	return b.String()
}

// eventsAPIKey picks the key events calls with from a --api-key list: the
// first with scope admin or events.
func eventsAPIKey(list string) string {
	return pickAPIKey(list, func(s grpcapi.Scope) bool { return s&(grpcapi.ScopeAdmin|grpcapi.ScopeEvents) != 0 })
}
