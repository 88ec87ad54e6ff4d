package pushsvc

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	clusterv1 "github.com/herald-push/herald/gen/herald/cluster/v1"
)

// snapshotVersion is the version of the herald.cluster.v1.NodeStats this
// node writes. A reader reads every version alike and keeps what it knows:
// later versions only add fields and names, as cluster.proto requires. The
// version tells a snapshot from bytes that are not one (0 or a parse
// error), and tells whoever reads the key in Redis which format a node
// writes. Raise it when NodeStats gets a field; a new number in statTable
// is only a new name in values and keeps it.
const snapshotVersion = 1

// encodeSnapshot is st as the snapshot a node puts in the cluster.
func encodeSnapshot(st Stats) ([]byte, error) {
	m := &clusterv1.NodeStats{
		Version: snapshotVersion,
		Values:  make(map[string]uint64, len(statTable)),
		Uptime:  durationpb.New(st.Uptime),
	}
	for d, v := range st.All() {
		m.Values[d.Name] = v
	}
	return proto.Marshal(m)
}

// decodeSnapshot reads a snapshot another node put, of any version: what
// this node does not know is ignored, and what the snapshot lacks is 0.
// Bytes that are not a snapshot get errBadSnapshot.
func decodeSnapshot(b []byte) (Stats, error) {
	var m clusterv1.NodeStats
	if err := proto.Unmarshal(b, &m); err != nil {
		return Stats{}, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	if m.GetVersion() == 0 {
		// Empty bytes, or bytes of another format that happen to parse.
		return Stats{}, fmt.Errorf("%w: no version", errBadSnapshot)
	}
	st := Stats{Uptime: m.GetUptime().AsDuration()}
	for _, d := range statTable {
		*d.field(&st) = m.GetValues()[d.Name]
	}
	return st, nil
}
