package redis

import (
	"strconv"

	"github.com/herald-push/herald/pushsvc/engine"
)

// keys names every Redis key and channel of one deployment (one KeyPrefix).
// The layout, with the default prefix "herald:", where {P} is the hash tag
// of a stream's partition (partition.go):
//
//	herald:s:{P}<stream>    hash  e=epoch, o=last offset          TTL HistoryTTL
//	herald:h:{P}<stream>    list  encoded publications, oldest first, at most
//	                              HistorySize                       TTL HistoryTTL
//	herald:id:{P}<n>:<id><stream>
//	                        string offset (u64 BE) and epoch of the publication
//	                              of idempotent message <id> (<n> bytes) in
//	                              <stream>                          TTL HistoryTTL
//	herald:g:{P}<group>     set   users added to the group; {P} of "group:<group>"
//	herald:ug:{<user>}      set   groups the user was added to
//	herald:pu:{P}<user>     hash  session id -> the connection's record (engine.Conn
//	                              as JSON, with "ms": connected at, unix ms);
//	                              {P} of "user:<user>"
//	herald:on:{P}<user>     string unix ms since when the event log has the
//	                              user online; absent while it has them offline
//	herald:ev:{P}           stream partition P's events, ids <ms>-<seq>: seq
//	                              counts the partition's events one by one
//	herald:evm:{P}          hash  e=the event log's epoch in P, n=last seq,
//	                              ms=last ms
//	herald:node:{<node>}    string the node's instance id (heartbeat) TTL NodeTTL
//	herald:pn:{<node>}      hash  session id -> user id, for the janitor
//	herald:stats:{<node>}   string the node's stats snapshot       TTL max(NodeTTL, 10s)
//	herald:nodes            set   ids of nodes that heartbeated since their
//	                              records were last reaped
//
//	sharded channel herald:fanout:{P}     the publications and Controls of
//	                                      partition P's streams, to every node
//	sharded channel herald:inbox:{<node>} counts the other nodes send back to <node>
//
// The hash tags put together what one script touches, so that it runs on
// one Redis Cluster slot: a stream's keys, its message ids' keys and its
// partition's channel (the publish and since scripts), a group's key and
// the channel of its group stream (the membership script), a user's
// presence hash, online mark and the event log of the user's partition
// (the presence scripts, which append the presence events). Nothing else
// is written atomically across keys. On a standalone Redis the tags change
// nothing.
type keys struct {
	prefix string
	inbox  string // this node's
	node   string // this node's heartbeat key
	nodes  string
	pn     string // this node's presence hash
	stats  string // this node's stats key
	fanout [numPartitions]string
	ev     [numPartitions]string // event log streams
	evm    [numPartitions]string // event log meta hashes
}

func newKeys(prefix, node string) keys {
	k := keys{
		prefix: prefix,
		nodes:  prefix + "nodes",
	}
	k.inbox = k.inboxOf(node)
	k.node = k.nodeOf(node)
	k.pn = k.pnOf(node)
	k.stats = k.statsOf(node)
	for p, tag := range partitionTags {
		k.fanout[p] = prefix + "fanout:{" + tag + "}"
		k.ev[p] = prefix + "ev:{" + tag + "}"
		k.evm[p] = prefix + "evm:{" + tag + "}"
	}
	return k
}

// tagOf is the hash tag, braces included, of a stream's partition.
func tagOf(stream string) string { return "{" + partitionTags[partitionOf(stream)] + "}" }

func (k *keys) streamState(stream string) string { return k.prefix + "s:" + tagOf(stream) + stream }
func (k *keys) history(stream string) string     { return k.prefix + "h:" + tagOf(stream) + stream }
func (k *keys) fanoutOf(stream string) string    { return k.fanout[partitionOf(stream)] }
func (k *keys) group(group string) string {
	return k.prefix + "g:" + tagOf(engine.GroupStream(group)) + group
}
func (k *keys) userGroups(user string) string { return k.prefix + "ug:{" + user + "}" }
func (k *keys) userPresence(user string) string {
	return k.prefix + "pu:" + tagOf(engine.UserStream(user)) + user
}
func (k *keys) onlineSince(user string) string {
	return k.prefix + "on:" + tagOf(engine.UserStream(user)) + user
}
func (k *keys) inboxOf(node string) string { return k.prefix + "inbox:{" + node + "}" }
func (k *keys) nodeOf(node string) string  { return k.prefix + "node:{" + node + "}" }
func (k *keys) pnOf(node string) string    { return k.prefix + "pn:{" + node + "}" }
func (k *keys) statsOf(node string) string { return k.prefix + "stats:{" + node + "}" }

// messageID is the key of an idempotent message id in a stream. The id
// goes first with its length, so that no pair of id and stream names
// another pair's key, whatever bytes either holds.
func (k *keys) messageID(stream, id string) string {
	return k.prefix + "id:" + tagOf(stream) + strconv.Itoa(len(id)) + ":" + id + stream
}
