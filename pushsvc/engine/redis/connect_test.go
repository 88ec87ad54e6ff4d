package redis

import (
	"strings"
	"testing"
)

func TestCheckServer(t *testing.T) {
	for _, tc := range []struct {
		info    string
		cluster bool
		err     string
	}{
		{"# Server\r\nredis_version:7.0.15\r\n# Cluster\r\ncluster_enabled:0\r\n", false, ""},
		{"# Server\r\nredis_version:7.2.4\r\n# Cluster\r\ncluster_enabled:1\r\n", true, ""},
		{"# Server\r\nredis_version:6.2.14\r\n# Cluster\r\ncluster_enabled:1\r\n", false, "7.0 or later"},
	} {
		cluster, err := checkServer(tc.info)
		if cluster != tc.cluster || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkServer(%q) = %v, %v; want %v, %q", tc.info, cluster, err, tc.cluster, tc.err)
		}
	}
}

func TestPartitionsSpreadStreams(t *testing.T) {
	var n [numPartitions]int
	for i := range 16000 {
		n[partitionOf("user:"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune(i)))]++
	}
	for p, c := range n {
		if c < 500 || c > 1500 {
			t.Errorf("partition %d got %d of 16000 streams", p, c)
		}
	}
}
