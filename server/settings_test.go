package server

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/server/grpcapi"
	"github.com/herald-push/herald/server/wsgate"
)

// TestEveryConfigFieldIsOneSetting: each field of Config is filled by
// exactly one setting, and each setting has a flag of its own.
func TestEveryConfigFieldIsOneSetting(t *testing.T) {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	byAddr := map[uintptr]string{}
	for i := range v.NumField() {
		byAddr[v.Field(i).Addr().Pointer()] = v.Type().Field(i).Name
	}
	seenField := map[string]string{}
	seenFlag := map[string]bool{}
	for _, s := range settings {
		f, ok := byAddr[reflect.ValueOf(s.field(&c)).Pointer()]
		if !ok {
			t.Errorf("--%s fills no field of Config", s.name())
			continue
		}
		if other, dup := seenField[f]; dup {
			t.Errorf("Config.%s is filled by --%s and --%s", f, other, s.name())
		}
		seenField[f] = s.name()
		if seenFlag[s.name()] {
			t.Errorf("--%s is declared twice", s.name())
		}
		seenFlag[s.name()] = true
	}
	for i := range v.NumField() {
		if f := v.Type().Field(i).Name; seenField[f] == "" {
			t.Errorf("Config.%s has no setting: declare one in settings_*.go", f)
		}
	}
}

// TestDefaultsAreValid: every default passes its own checks, and each
// flag's default is the setting's.
func TestDefaultsAreValid(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v", err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Defaults()) {
		t.Errorf("registering the flags changed the defaults:\n%+v\n%+v", c, Defaults())
	}
}

// TestOptionsAreThePackagesOwn: the defaults reach each package as its
// own default constant, and a 0 that turns a setting off on the command
// line reaches it as the package's "off" (negative), not as its zero,
// which would be its default.
func TestOptionsAreThePackagesOwn(t *testing.T) {
	d := Defaults()
	o := d.options()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"ws.HeartbeatInterval", o.ws.HeartbeatInterval, time.Duration(wsgate.DefaultHeartbeatInterval)},
		{"ws.MaxConnections", o.ws.MaxConnections, wsgate.NoLimit},
		{"ws.MaxConnectionsPerUser", o.ws.MaxConnectionsPerUser, wsgate.DefaultMaxConnectionsPerUser},
		{"svc.HistorySize", o.svc.HistorySize, engine.DefaultHistorySize},
		{"redis.HistoryTTL", o.redis.HistoryTTL, time.Duration(engine.DefaultHistoryTTL)},
		{"svc.SendQueueBytes", o.svc.SendQueueBytes, pushsvc.DefaultSendQueueBytes},
		{"svc.SlowPolicy", o.svc.SlowPolicy, pushsvc.SlowDisconnect},
		{"grpc.RateLimit.PerSecond", o.grpc.RateLimit.PerSecond, float64(grpcapi.DefaultRateLimit)},
		{"grpc.RateLimit.Burst", o.grpc.RateLimit.Burst, 0},
		{"svc.EventRetention", o.svc.EventRetention, engine.DefaultEventRetention},
		{"redis.EventMaxAge", o.redis.EventMaxAge, time.Duration(engine.DefaultEventMaxAge)},
		{"svc.WatcherBuffer", o.svc.WatcherBuffer, pushsvc.DefaultWatcherBuffer},
		{"grpc.Capacity.MaxEventWatchers", o.grpc.Capacity.MaxEventWatchers, grpcapi.DefaultMaxEventWatchers},
		{"grpc.Capacity.MaxEventWatchersPerCaller", o.grpc.Capacity.MaxEventWatchersPerCaller, grpcapi.DefaultMaxEventWatchersPerCaller},
		{"redis.LocalDelivered", o.redis.LocalDelivered, false},
	} {
		if tc.got != tc.want {
			t.Errorf("defaults: %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	c := Defaults()
	c.MaxConnectionsPerUser, c.MaxConnectionsPerIP, c.HandshakesPerIPPerSecond, c.ClientFramesPerSecond = 0, 0, 0, 0
	c.HistorySize, c.MaxBatchBytes, c.GRPCMaxMessageBytes, c.SlowPolicy = 0, 0, 0, "drop-oldest"
	c.Compression, c.RedisExactDelivered = false, false
	o = c.options()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"ws.MaxConnectionsPerUser", o.ws.MaxConnectionsPerUser, wsgate.NoLimit},
		{"ws.MaxConnectionsPerIP", o.ws.MaxConnectionsPerIP, wsgate.NoLimit},
		{"ws.MaxHandshakesPerIPPerSecond", o.ws.MaxHandshakesPerIPPerSecond, float64(wsgate.NoLimit)},
		{"ws.ClientFramesPerSecond", o.ws.ClientFramesPerSecond, float64(wsgate.NoLimit)},
		{"ws.DisableCompression", o.ws.DisableCompression, true},
		{"redis.LocalDelivered", o.redis.LocalDelivered, true},
		{"svc.HistorySize", o.svc.HistorySize, engine.NoHistory},
		{"redis.HistorySize", o.redis.HistorySize, engine.NoHistory},
		{"svc.MaxBatchBytes (0: the default)", o.svc.MaxBatchBytes, 0},
		{"grpc.MaxRecvMsgBytes (0: the default)", o.grpc.MaxRecvMsgBytes, 0},
		{"svc.SlowPolicy", o.svc.SlowPolicy, pushsvc.SlowDropOldest},
	} {
		if tc.got != tc.want {
			t.Errorf("0 on the command line: %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
