package redis

// keys names every Redis key and channel of one deployment (one KeyPrefix).
// The layout, with the default prefix "herald:":
//
//	herald:s:{<stream>}   hash  e=epoch, o=last offset          TTL HistoryTTL
//	herald:h:{<stream>}   list  encoded publications, oldest first, at most
//	                            HistorySize                       TTL HistoryTTL
//	herald:claim:<key>    string first claim's value              TTL of the claim
//	herald:g:{<group>}    set   users added to the group
//	herald:ug:{<user>}    set   groups the user was added to
//	herald:pu:{<user>}    hash  session id -> engine.Conn as JSON
//	herald:pn:<node>      hash  session id -> user id, for the janitor
//	herald:node:<node>    string the node's instance id (heartbeat) TTL NodeTTL
//	herald:stats:<node>   string the node's stats snapshot       TTL max(NodeTTL, 10s)
//	herald:nodes          set   ids of nodes that heartbeated since their
//	                            records were last reaped
//
//	channel herald:fanout         every publication and Control, to every node
//	channel herald:inbox:<node>   counts the other nodes send back to <node>
//
// The braces around a stream name make its two keys one hash slot, which
// the publish and since scripts need under Redis Cluster; the engine itself
// supports standalone Redis only (see doc.go).
type keys struct {
	prefix string
	fanout string
	inbox  string // this node's
	node   string // this node's heartbeat key
	nodes  string
	pn     string // this node's presence hash
	stats  string // this node's stats key
	puOpen string // prefix of user presence keys, up to the brace
}

func newKeys(prefix, node string) keys {
	return keys{
		prefix: prefix,
		fanout: prefix + "fanout",
		inbox:  prefix + "inbox:" + node,
		node:   prefix + "node:" + node,
		nodes:  prefix + "nodes",
		pn:     prefix + "pn:" + node,
		stats:  prefix + "stats:" + node,
		puOpen: prefix + "pu:{",
	}
}

func (k *keys) streamState(stream string) string { return k.prefix + "s:{" + stream + "}" }
func (k *keys) history(stream string) string     { return k.prefix + "h:{" + stream + "}" }
func (k *keys) claim(key string) string          { return k.prefix + "claim:" + key }
func (k *keys) group(group string) string        { return k.prefix + "g:{" + group + "}" }
func (k *keys) userGroups(user string) string    { return k.prefix + "ug:{" + user + "}" }
func (k *keys) userPresence(user string) string  { return k.puOpen + user + "}" }
func (k *keys) inboxOf(node string) string       { return k.prefix + "inbox:" + node }
func (k *keys) nodeOf(node string) string        { return k.prefix + "node:" + node }
func (k *keys) pnOf(node string) string          { return k.prefix + "pn:" + node }
func (k *keys) statsOf(node string) string       { return k.prefix + "stats:" + node }
