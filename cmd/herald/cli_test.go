package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/herald-push/herald/server"
)

// TestServeHelp: --help prints the flags with their HERALD_ variables to
// stdout and exits 0 (it used to exit 2 and print to stderr).
func TestServeHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		r := runCLI(t, "serve", arg)
		if r.code != exitOK {
			t.Fatalf("serve %s: exit %d, want 0; stderr:\n%s", arg, r.code, r.errOut)
		}
		mustContain(t, "serve "+arg+" output", r.out,
			"--heartbeat-interval duration   HERALD_HEARTBEAT_INTERVAL",
			"--log-level level   HERALD_LOG_LEVEL",
			"(default 25s)",
			"HERALD_DEV_DIR",
		)
	}
	// Every setting, with its variable beside it.
	r := runCLI(t, "serve", "--help")
	cfg := server.Defaults()
	fs := newFlagSet("serve")
	cfg.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(r.out, "  --"+f.Name+" ") || !strings.Contains(r.out, "   "+server.EnvName(f.Name)+"\n") {
			t.Errorf("serve --help lacks --%s with %s", f.Name, server.EnvName(f.Name))
		}
	})
}

// TestEveryCommandHasHelp: each command answers --help with exit 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		r := runCLI(t, c.name, "--help")
		if r.code != exitOK || !strings.Contains(r.out, "usage: herald "+c.name) {
			t.Errorf("%s --help: exit %d, stdout:\n%s\nstderr:\n%s", c.name, r.code, r.out, r.errOut)
		}
	}
	if r := runCLI(t, "--help"); r.code != exitOK || !strings.Contains(r.out, "HERALD_WS_ADDR") {
		t.Errorf("herald --help: exit %d, stdout:\n%s", r.code, r.out)
	}
}

// TestBadSettingsNameTheSettingAndTheForm: a bad flag or environment
// variable stops serve before it starts anything (exit 2), and the message
// names the setting as written, shows the value and the form expected.
func TestBadSettingsNameTheSettingAndTheForm(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"duration without unit", nil, []string{"--heartbeat-interval", "5"},
			`--heartbeat-interval="5": a duration with a unit, like 25s or 500ms (the unit is missing)`},
		{"env duration without unit", map[string]string{"HERALD_HEARTBEAT_INTERVAL": "5"}, nil,
			`HERALD_HEARTBEAT_INTERVAL="5": a duration with a unit, like 25s or 500ms (the unit is missing)`},
		{"env duration garbage", map[string]string{"HERALD_DRAIN_TIMEOUT": "soon"}, nil,
			`HERALD_DRAIN_TIMEOUT="soon": a duration with a unit, like 25s or 500ms`},
		{"log level", nil, []string{"--log-level", "loud"},
			`--log-level="loud": debug, info, warn or error`},
		{"env log level", map[string]string{"HERALD_LOG_LEVEL": "loud"}, nil,
			`HERALD_LOG_LEVEL="loud": debug, info, warn or error`},
		{"int", nil, []string{"--max-connections=lots"},
			`--max-connections="lots": a whole number, like 1000`},
		{"env int", map[string]string{"HERALD_HISTORY_SIZE": "1k"}, nil,
			`HERALD_HISTORY_SIZE="1k": a whole number, like 1000`},
		{"env bool", map[string]string{"HERALD_PPROF": "yes"}, nil,
			`HERALD_PPROF="yes": true or false`},
		{"float", nil, []string{"--client-frames-per-second", "fast"},
			`--client-frames-per-second="fast": a number, like 200 or 0.5`},
		{"bool flag with a value", nil, []string{"--compression=maybe"},
			`--compression="maybe": true or false`},
		{"range checked at validation", nil, []string{"--history-size", "-1"},
			`--history-size: -1 must be >= 0`},
		{"env range checked at validation", map[string]string{"HERALD_HISTORY_SIZE": "-1"}, nil,
			`HERALD_HISTORY_SIZE: -1 must be >= 0`},
		{"flag wins over env", map[string]string{"HERALD_HISTORY_SIZE": "10"}, []string{"--history-size", "-2"},
			`--history-size: -2 must be >= 0`},
		{"stray argument", nil, []string{"now"}, `unexpected arguments: ["now"]`},
		// What a package would refuse, the command line refuses first,
		// naming the flag rather than a Go field.
		{"over the schema's bound", nil, []string{"--max-user-ids", "5000"},
			`--max-user-ids: 5000 must be at most 1000, the bound in push.proto`},
		{"rate past what a limit takes", nil, []string{"--handshakes-per-ip-per-second", "inf"},
			`--handshakes-per-ip-per-second: +Inf must be at most 1e+06 (0: no limit)`},
		{"env rate not a number", map[string]string{"HERALD_CLIENT_FRAMES_PER_SECOND": "NaN"}, nil,
			`HERALD_CLIENT_FRAMES_PER_SECOND: NaN must be >= 0 (0: no limit)`},
		{"short secret, not shown", nil, []string{"--jwt-secret", "hunter2"},
			"--jwt-secret: 7 bytes is too short; use at least 32 random bytes"},
		{"not a public key", nil, []string{"--jwt-public-key", "../../go.mod"},
			`--jwt-public-key: "../../go.mod" is not a public key: no PEM block found`},
		{"bad origin", nil, []string{"--allowed-origins", "https://ok.example.com,app.example.com"},
			`--allowed-origins: entry 2: "app.example.com": must be scheme://host[:port]`},
		{"unknown policy", nil, []string{"--slow-consumer-policy", "drop"},
			`--slow-consumer-policy: "drop" must be disconnect or drop-oldest`},
		{"node id Redis cannot take", nil, []string{"--redis-url", "redis://127.0.0.1:1", "--node-id", "push 1"},
			`--node-id: "push 1" with --redis-url: at most 200 bytes, no spaces or control characters`},
		{"missing file", nil, []string{"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"},
			`--tls-cert: "/nonexistent/c.pem" cannot be opened: no such file or directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, append([]string{"serve"}, tc.args...)...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.errOut)
			}
			mustContain(t, "stderr", r.errOut, "herald serve: "+tc.want, "herald serve --help")
			if strings.Contains(r.errOut, "hunter2") {
				t.Errorf("the secret is in the message:\n%s", r.errOut)
			}
		})
	}
}

// TestUnknownCommand exits 2 with the command list.
func TestUnknownCommand(t *testing.T) {
	r := runCLI(t, "srve")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want 2", r.code)
	}
	mustContain(t, "stderr", r.errOut, `unknown command "srve"`, "serve ")
}

// TestAPIKeyFromList: bench and events call with a key of HERALD_API_KEY
// without its scopes (bench used to send "KEY:push" as the key), the
// first whose scopes fit their calls: bench pushes and reads GetStats,
// events watches events.
func TestAPIKeyFromList(t *testing.T) {
	for _, tc := range []struct {
		cmd        string
		pick       func(list string) string
		list, want string
	}{
		{"bench", benchAPIKey, "", ""},
		{"bench", benchAPIKey, "k1", "k1"},
		{"bench", benchAPIKey, " k1 , k2", "k1"},
		{"bench", benchAPIKey, "k1:push,k2", "k2"},
		{"bench", benchAPIKey, "k1:push,k2:admin", "k1"},
		{"bench", benchAPIKey, "k1:push,k2:push+admin,k3", "k2"},
		{"events", eventsAPIKey, "", ""},
		{"events", eventsAPIKey, "k1", "k1"},
		{"events", eventsAPIKey, "k1:push,k2", "k2"},
		{"events", eventsAPIKey, "k1:push,k2:events,k3", "k2"},
		{"events", eventsAPIKey, "k1:push,k2:push+admin,k3", "k2"},
		{"events", eventsAPIKey, "k1:push", "k1"},
	} {
		if got := tc.pick(tc.list); got != tc.want {
			t.Errorf("%s: key of %q = %q, want %q", tc.cmd, tc.list, got, tc.want)
		}
	}
}
