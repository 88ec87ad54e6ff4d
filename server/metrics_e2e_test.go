package server_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
)

// statSeries are the series /metrics exports for the numbers of
// GetStats, each with its field of herald.push.v1.Stats. The metric
// names are a contract with dashboards: add to this list, never change it.
var statSeries = map[string]string{
	`herald_connections`:                     "connections",
	`herald_users`:                           "users",
	`herald_groups`:                          "groups",
	`herald_publications_total`:              "pushes",
	`herald_pushes_total{kind="users"}`:      "push_calls_users",
	`herald_pushes_total{kind="groups"}`:     "push_calls_groups",
	`herald_pushes_total{kind="broadcast"}`:  "push_calls_broadcast",
	`herald_duplicate_pushes_total`:          "duplicates",
	`herald_deliveries_total`:                "deliveries",
	`herald_batches_total`:                   "batches",
	`herald_connects_total`:                  "connects",
	`herald_messages_in_total`:               "messages_in",
	`herald_bytes_in_total`:                  "bytes_in",
	`herald_messages_out_total`:              "messages_out",
	`herald_bytes_out_total{kind="raw"}`:     "bytes_out_raw",
	`herald_bytes_out_total{kind="wire"}`:    "bytes_out_wire",
	`herald_queue_drops_total`:               "drops",
	`herald_slow_consumer_disconnects_total`: "slow_consumer_disconnects",
}

// TestMetricsAreGetStats: /metrics exports exactly the series of
// statSeries (besides the WebSocket gateway's herald_ws_* and the gRPC
// adapter's herald_grpc_*), each with the
// value GetStats answers for its field.
func TestMetricsAreGetStats(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	c := env.Connect(t, "alice", "room")
	if _, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", "hello")}); err != nil {
		t.Fatal(err)
	}
	c.NextPush(t)

	// Nothing moves the numbers now, but a ping would (bytes out): compare
	// again until they agree, and report the last differences.
	deadline := time.Now().Add(10 * time.Second)
	for {
		problems := compareStatSeries(t, env)
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range problems {
				t.Error(p)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// compareStatSeries reads /metrics, then GetStats, and lists where they
// differ from each other or from statSeries.
func compareStatSeries(t *testing.T, env *nodetest.Node) []string {
	t.Helper()
	series := scrapeStatSeries(t, env.AdminURL+"/metrics")
	st := env.Stats(t).ProtoReflect()
	fields := st.Descriptor().Fields()
	var problems []string
	for s, field := range statSeries {
		v, ok := series[s]
		f := fields.ByName(protoreflect.Name(field))
		switch {
		case !ok:
			problems = append(problems, s+" missing from /metrics")
		case f == nil:
			problems = append(problems, "herald.push.v1.Stats has no field "+field)
		case v != st.Get(f).Uint():
			problems = append(problems, fmt.Sprintf("%s = %d, but GetStats %s = %d", s, v, field, st.Get(f).Uint()))
		}
	}
	for s := range series {
		if _, ok := statSeries[s]; !ok {
			problems = append(problems, s+" is on /metrics but not in statSeries")
		}
	}
	return problems
}

// scrapeStatSeries reads the herald_ series of url, but the gateway's
// herald_ws_ and the gRPC adapter's herald_grpc_ ones, with their values.
func scrapeStatSeries(t *testing.T, url string) map[string]uint64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := make(map[string]uint64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "herald_") || strings.HasPrefix(line, "herald_ws_") || strings.HasPrefix(line, "herald_grpc_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[line[:i]] = uint64(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
