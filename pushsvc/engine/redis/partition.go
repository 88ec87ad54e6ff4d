package redis

// Fan-out is split into numPartitions partitions. A stream belongs to one
// (FNV-1a of its name), and each partition has a sharded pub/sub channel
// that carries the publications and Controls of its streams, in the order
// Redis ran them. The keys of a stream carry its partition's hash tag, so
// that they and the partition's channel live in one Redis Cluster slot:
// the publish script may then write the stream's keys and SPUBLISH on the
// channel in one atomic step, which is what makes every node receive a
// stream's publications in offset order.
//
// Every node must agree on the partitions, so their number and tags are
// constants, part of the data layout: changing them is like renaming every
// key. Sixteen spreads the fan-out over up to sixteen Redis Cluster
// masters; each node holds one subscription per partition there (one in
// all on a standalone Redis).
const numPartitions = 16

// partitionTags are the partitions' hash tags. Each was chosen so that its
// slot lies in the middle of the partition's sixteenth of the slot range
// (partition i near slot 1024*i+512): a cluster whose slots are split into
// even contiguous ranges, which is what `redis-cli --cluster create` and
// rebalance produce, gets the partitions spread evenly over its masters.
// TestPartitionTagsSpreadOverSlots checks the slots.
var partitionTags = [numPartitions]string{
	"p00.66", "p01.141", "p02.228", "p03.262",
	"p04.12", "p05.19", "p06.440", "p07.201",
	"p08.105", "p09.158", "p10.141", "p11.61",
	"p12.263", "p13.229", "p14.122", "p15.15",
}

// partitionOf is the partition of a stream: 32-bit FNV-1a of its name,
// written out so that the publish path does not allocate for it.
func partitionOf(stream string) int {
	h := uint32(2166136261)
	for i := 0; i < len(stream); i++ {
		h ^= uint32(stream[i])
		h *= 16777619
	}
	return int(h % numPartitions)
}
