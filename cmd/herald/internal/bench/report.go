package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything a run measured, with its parameters and host. It
// is what --json writes.
type Report struct {
	Params  Params    `json:"params"`
	Host    Host      `json:"host"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Workers int       `json:"workers"` // client processes besides this one (0: clients held here)

	Connect ConnectReport `json:"connect"`
	// Memory is the server's memory before and after connecting, when
	// --server-pid or --admin-url says where to read it.
	Memory *MemoryReport `json:"memory,omitempty"`
	Steps  []StepReport  `json:"steps,omitempty"`

	// ServerCloses counts connections the server closed during the run,
	// by close code: slow consumers (4003) show here.
	ServerCloses map[string]int `json:"server_closes,omitempty"`
	BadFrames    int64          `json:"bad_frames"`     // frames that are not ServerFrames
	Foreign      uint64         `json:"foreign_pushes"` // pushes not sent by this run
	// Problems are things that went wrong without ending the run.
	Problems []string `json:"problems,omitempty"`
	// Flood is what --flood's abusive connections did.
	Flood *FloodReport `json:"flood,omitempty"`
	// Soak is the soak scenario's account of the server and the churn.
	Soak *SoakReport `json:"soak,omitempty"`
}

// Params are the run's settings.
type Params struct {
	Scenario        string    `json:"scenario"`
	WSURL           string    `json:"ws_url"`
	GRPCAddr        string    `json:"grpc_addr"`
	AdminURL        string    `json:"admin_url,omitempty"`
	Conns           int       `json:"conns"`
	Users           int       `json:"users"`
	Groups          int       `json:"groups"`
	Compress        bool      `json:"compress"`
	PayloadBytes    int       `json:"payload_bytes"`
	Rates           []float64 `json:"rates,omitempty"`
	StepSeconds     float64   `json:"step_seconds"`
	DurationSeconds float64   `json:"duration_seconds"`
	SettleSeconds   float64   `json:"settle_seconds"`
	ServerPID       int       `json:"server_pid,omitempty"`
	SourceIPs       int       `json:"source_ips"`
	DialRate        float64   `json:"dial_rate"`
	Workers         int       `json:"workers"`
	Callers         int       `json:"callers"`
	Window          int       `json:"window,omitempty"`
	Offline         bool      `json:"offline,omitempty"`
	Churn           int       `json:"churn,omitempty"`
	ProbeRate       float64   `json:"probe_rate,omitempty"`
}

func paramsOf(c Config) Params {
	p := Params{
		Scenario: c.Scenario, WSURL: c.WSURL, GRPCAddr: c.GRPCAddr, AdminURL: c.AdminURL,
		Conns: c.Conns, Users: c.Users, Groups: c.Groups, Compress: c.Compress, PayloadBytes: c.Payload,
		Rates: c.Rates, StepSeconds: c.Step.Seconds(), DurationSeconds: c.Duration.Seconds(),
		SettleSeconds: c.Settle.Seconds(), ServerPID: c.ServerPID, SourceIPs: c.SourceIPs,
		DialRate: c.DialRate, Workers: c.Workers, Callers: c.Callers, Churn: c.Churn,
		Offline: c.Offline, ProbeRate: c.ProbeRate,
	}
	if c.Scenario == ScenarioStream {
		p.Window = c.Window
	}
	return p
}

// Host describes the machine the run was on.
type Host struct {
	GOMAXPROCS     int    `json:"gomaxprocs"`
	NumCPU         int    `json:"num_cpu"`
	CPUModel       string `json:"cpu_model,omitempty"`
	GoVersion      string `json:"go_version"`
	OS             string `json:"os"`
	Arch           string `json:"arch"`
	OpenFilesLimit uint64 `json:"open_files_limit"`
}

func hostInfo(filesLimit uint64) Host {
	h := Host{
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		OpenFilesLimit: filesLimit,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}

// ConnectReport is the connection phase.
type ConnectReport struct {
	Attempted int            `json:"attempted"`
	Connected int64          `json:"connected"` // got their Welcome
	Failed    int64          `json:"failed"`
	Seconds   float64        `json:"seconds"`
	PerSecond float64        `json:"per_second"`
	Errors    map[string]int `json:"errors,omitempty"` // failures by reason
	// ServerConnections is what the server's GetStats counted once every
	// client had connected (0 when not asked).
	ServerConnections uint64 `json:"server_connections,omitempty"`
}

// MemoryReport is the server's memory before the clients connected and
// once they had (after the settle time), and the difference per connection.
type MemoryReport struct {
	RSSBefore         int64   `json:"rss_before_bytes,omitempty"`
	RSSAfter          int64   `json:"rss_after_bytes,omitempty"`
	RSSPerConn        float64 `json:"rss_per_conn_bytes,omitempty"`
	HeapBefore        int64   `json:"heap_inuse_before_bytes,omitempty"`
	HeapAfter         int64   `json:"heap_inuse_after_bytes,omitempty"`
	HeapPerConn       float64 `json:"heap_per_conn_bytes,omitempty"`
	StackBefore       int64   `json:"stack_inuse_before_bytes,omitempty"`
	StackAfter        int64   `json:"stack_inuse_after_bytes,omitempty"`
	StackPerConn      float64 `json:"stack_per_conn_bytes,omitempty"`
	GoroutinesBefore  int64   `json:"goroutines_before,omitempty"`
	GoroutinesAfter   int64   `json:"goroutines_after,omitempty"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn,omitempty"`
}

// StepReport is one rate step.
type StepReport struct {
	Rate    float64 `json:"rate"` // target calls per second
	Seconds float64 `json:"seconds"`

	Sent        int64   `json:"sent"`    // calls that succeeded
	Skipped     int64   `json:"skipped"` // due calls not made: every caller was busy
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	CallsPerSec float64 `json:"calls_per_sec"`
	CallLatency Latency `json:"call_latency"`

	Expected         int64   `json:"expected"` // deliveries the sent calls should make
	ServerDelivered  int64   `json:"server_delivered"`
	Received         int64   `json:"received"`
	Completeness     float64 `json:"completeness_pct"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Latency          Latency `json:"latency"` // end to end: receive time - send time

	// Server CPU (from /proc, with --server-pid): cores busy on average
	// and CPU time per delivery. BenchCPUCores is this process and its
	// workers, BenchCPUs the CPUs they may run on; BenchSaturated says
	// they had none to spare (saturation.go): the figures then measure
	// the load generator, a floor of what the server does.
	// OtherCPUCores is everything else the machine ran meanwhile (with
	// --server-pid): well above zero, other work competed for the cores
	// and the figures are not the server's alone.
	ServerCPUCores         float64 `json:"server_cpu_cores,omitempty"`
	ServerCPUNsPerDelivery float64 `json:"server_cpu_ns_per_delivery,omitempty"`
	BenchCPUCores          float64 `json:"bench_cpu_cores,omitempty"`
	BenchCPUs              int     `json:"bench_cpus,omitempty"`
	BenchSaturated         bool    `json:"bench_saturated,omitempty"`
	BenchBusiestShare      float64 `json:"bench_busiest_share,omitempty"` // of the busiest bench process's own CPUs
	OtherCPUCores          float64 `json:"other_cpu_cores,omitempty"`

	// Server is the change in the server's GetStats counters over the step.
	Server *ServerDelta `json:"server,omitempty"`
	// PushCalls counts the soak's successful calls by kind: users, groups,
	// broadcast.
	PushCalls map[string]int64 `json:"push_calls,omitempty"`
	// Probes are the step's probe calls, with --probe-rate.
	Probes *ProbeReport `json:"probes,omitempty"`
}

// ServerDelta is the change of the server's counters over a step.
type ServerDelta struct {
	MessagesOut             uint64 `json:"messages_out"`
	BytesOutRaw             uint64 `json:"bytes_out_raw"`
	BytesOutWire            uint64 `json:"bytes_out_wire"`
	Drops                   uint64 `json:"drops"`
	SlowConsumerDisconnects uint64 `json:"slow_consumer_disconnects"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people to read.
func (r *Report) WriteTable(w io.Writer) error {
	p := r.Params
	comp := "off"
	if p.Compress {
		comp = "on"
	}
	procs := "clients in this process"
	if r.Workers > 0 {
		procs = fmt.Sprintf("clients in %d worker processes", r.Workers)
	}
	fmt.Fprintf(w, "herald bench: %s, %d conns (%d users, %d groups), compression %s, payload %d B, %s, %d CPUs, GOMAXPROCS %d\n",
		p.Scenario, p.Conns, p.Users, p.Groups, comp, p.PayloadBytes, procs, r.Host.NumCPU, r.Host.GOMAXPROCS)
	c := r.Connect
	fmt.Fprintf(w, "connect: %d/%d connected, %d failed, in %.1fs (%.0f/s)", c.Connected, c.Attempted, c.Failed, c.Seconds, c.PerSecond)
	if c.ServerConnections > 0 {
		fmt.Fprintf(w, "; server counts %d", c.ServerConnections)
	}
	fmt.Fprintln(w)
	writeReasons(w, "  failed", c.Errors)
	if m := r.Memory; m != nil {
		fmt.Fprintln(w, "server memory (before -> after connecting, per connection):")
		if m.RSSAfter > 0 {
			fmt.Fprintf(w, "  RSS    %8s -> %8s   %s/conn\n", mib(m.RSSBefore), mib(m.RSSAfter), kib(m.RSSPerConn))
		}
		if m.HeapAfter > 0 {
			fmt.Fprintf(w, "  heap   %8s -> %8s   %s/conn\n", mib(m.HeapBefore), mib(m.HeapAfter), kib(m.HeapPerConn))
			fmt.Fprintf(w, "  stacks %8s -> %8s   %s/conn\n", mib(m.StackBefore), mib(m.StackAfter), kib(m.StackPerConn))
			fmt.Fprintf(w, "  goroutines %d -> %d   %.2f/conn\n", m.GoroutinesBefore, m.GoroutinesAfter, m.GoroutinesPerConn)
		}
	}
	if len(r.Steps) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "rate/s\tsecs\tsent\tskip\terr\tcalls/s\tcall p50\tcall p99\texpected\treceived\tcomplete\tdeliv/s\tp50 ms\tp99 ms\tp999 ms\tmax ms\tsrv cpu\tns/deliv\tbench cpu\tother cpu\t")
		for _, s := range r.Steps {
			fmt.Fprintf(tw, "%g\t%.1f\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%d\t%d\t%.2f%%\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t\n",
				s.Rate, s.Seconds, s.Sent, s.Skipped, s.Errors, s.CallsPerSec, s.CallLatency.P50Ms, s.CallLatency.P99Ms,
				s.Expected, s.Received, s.Completeness, s.DeliveriesPerSec,
				s.Latency.P50Ms, s.Latency.P99Ms, s.Latency.P999Ms, s.Latency.MaxMs,
				orDash(s.ServerCPUCores, "%.2f"), orDash(s.ServerCPUNsPerDelivery, "%.0f"), orDash(s.BenchCPUCores, "%.2f"), orDash(s.OtherCPUCores, "%.2f"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for i, s := range r.Steps {
			if s.FirstError != "" {
				fmt.Fprintf(w, "step %d: first error: %s\n", i+1, s.FirstError)
			}
			if s.BenchSaturated {
				fmt.Fprintf(w, "step %d: bench saturated (%.2f cores busy of the %d CPUs it may use, its busiest process %.0f%% of its own): the figures are a floor, not the server's limit\n",
					i+1, s.BenchCPUCores, s.BenchCPUs, 100*s.BenchBusiestShare)
			}
			if d := s.Server; d != nil && (d.Drops > 0 || d.SlowConsumerDisconnects > 0) {
				fmt.Fprintf(w, "step %d: server dropped %d frames, closed %d slow consumers\n", i+1, d.Drops, d.SlowConsumerDisconnects)
			}
			if p := s.Probes; p != nil {
				fmt.Fprintf(w, "step %d: probe calls at %g/s: GetStats p50 %.2f ms p99 %.2f ms max %.2f ms (%d), PushToUsers p50 %.2f ms p99 %.2f ms max %.2f ms (%d); skipped %d, errors %d\n",
					i+1, p.Rate, p.GetStats.P50Ms, p.GetStats.P99Ms, p.GetStats.MaxMs, p.GetStats.Count,
					p.PushToUsers.P50Ms, p.PushToUsers.P99Ms, p.PushToUsers.MaxMs, p.PushToUsers.Count, p.Skipped, p.Errors)
				if p.FirstError != "" {
					fmt.Fprintf(w, "step %d: first probe error: %s\n", i+1, p.FirstError)
				}
			}
		}
	}
	for i, s := range r.Steps {
		if len(s.PushCalls) > 0 {
			fmt.Fprintf(w, "step %d: push calls: users %d, groups %d, broadcast %d\n", i+1, s.PushCalls["users"], s.PushCalls["groups"], s.PushCalls["broadcast"])
		}
	}
	writeReasons(w, "closed by the server", r.ServerCloses)
	if r.BadFrames > 0 || r.Foreign > 0 {
		fmt.Fprintf(w, "bad frames %d, pushes from elsewhere %d\n", r.BadFrames, r.Foreign)
	}
	if f := r.Flood; f != nil {
		fmt.Fprintf(w, "flood: %d abusive connections, %d dials, %d frames sent\n", f.Connections, f.Dials, f.FramesSent)
		writeReasons(w, "flood connections ended", f.Closes)
	}
	if r.Soak != nil {
		if err := r.Soak.write(w); err != nil {
			return err
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
	_, err := fmt.Fprintf(w, "run took %.1fs\n", r.Seconds)
	return err
}

func writeReasons(w io.Writer, what string, m map[string]int) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "%s: %d × %s\n", what, m[k], k)
	}
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func mib(b int64) string   { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }
