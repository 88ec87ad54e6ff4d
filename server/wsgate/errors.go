package wsgate

import "errors"

var (
	// errWrongUser refuses a refresh token for another user.
	errWrongUser = errors.New("wsgate: refresh token is for another user")
	// errBadFrameLength is the read error of a frame header whose 64-bit
	// length has its most significant bit set (see sawBadLength).
	errBadFrameLength = errors.New("wsgate: frame length with its most significant bit set")
	// errWriteClosed is what a session's write gets once the connection's
	// close frame went out: nothing may follow it.
	errWriteClosed = errors.New("wsgate: connection closed")
)
