package pushsvc

import (
	"encoding/base32"
	"encoding/binary"
	"math/rand/v2"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a random 16-character id for sessions and messages. It need
// not be unguessable: ids name things, they grant nothing.
func newID() string {
	var b [10]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint16(b[8:], uint16(rand.Uint32()))
	return idEncoding.EncodeToString(b[:])
}
