package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterTimeout bounds how long a cluster may take to agree that it is
// healthy, after its creation or a restart of one of its masters.
const clusterTimeout = 30 * time.Second

// Cluster is a Redis Cluster of three masters without replicas, each a
// Server on 127.0.0.1 with its own cluster bus port.
type Cluster struct {
	// URL is the first master's redis:// URL: a client seeded with it
	// finds the others.
	URL string
	// Masters are the cluster's nodes; Stop and Restart one of them to
	// simulate an outage of its slots.
	Masters []*Server

	t testing.TB
}

// StartCluster starts three masters for t, joins them with
// `redis-cli --cluster create` (slots split evenly, in order of Masters),
// waits until every node reports the cluster healthy, and kills them at
// t's cleanup. args are added to every node's command line.
//
// Nodes are given --cluster-node-timeout 1000, so that a restarted master
// is welcome back within seconds, and --cluster-require-full-coverage no,
// so that the other masters keep serving their slots while one is down,
// as a cluster with replicas would after a failover.
func StartCluster(t testing.TB, args ...string) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found on PATH (%v): `make test` installs it (Debian package redis-tools)", err)
	}
	c := &Cluster{t: t}
	addrs := make([]string, 3)
	for i := range addrs {
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: finding a free port: %v", err)
		}
		// The bus port defaults to port+10000, which may not be free, or
		// not even a port: name one. The config file, in the server's own
		// directory, keeps the node's identity and slots across Restart.
		s := Start(t, append([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "1000",
			"--cluster-require-full-coverage", "no",
		}, args...)...)
		c.Masters = append(c.Masters, s)
		addrs[i] = s.Addr
	}
	c.URL = c.Masters[0].URL
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy()
	return c
}

// WaitHealthy polls every running master until each reports
// cluster_state:ok with all 16384 slots served and every master known.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	c.waitFor("cluster healthy", c.healthy)
}

func (c *Cluster) healthy() error {
	want := map[string]string{
		"cluster_state":       "ok",
		"cluster_slots_ok":    "16384",
		"cluster_known_nodes": strconv.Itoa(len(c.Masters)),
	}
	for _, s := range c.Masters {
		info, err := command(s.Addr, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %w", s.Addr, err)
		}
		for k, v := range want {
			if !strings.Contains(info, k+":"+v+"\r\n") {
				return fmt.Errorf("%s: want %s:%s in CLUSTER INFO", s.Addr, k, v)
			}
		}
	}
	return nil
}

// command sends one command and returns its reply if it is a bulk string
// (CLUSTER INFO's and CLUSTER NODES' are).
func command(addr string, args ...string) (string, error) {
	v, err := do(addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s answered %v, not a string", args[0], v)
	}
	return s, nil
}

// do sends one command on a new connection and returns its reply: a
// string (simple or bulk), an int64, nil, or a []any of those; an error
// reply is returned as an error.
func do(addr string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	d := time.Second
	if strings.EqualFold(args[0], "MIGRATE") {
		d += migrateTimeout // it waits on the target
	}
	_ = conn.SetDeadline(time.Now().Add(d))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	v, err := readReply(bufio.NewReader(conn))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return v, nil
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, errors.New(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // $-1 is nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}
