package tokens

import (
	"net/http"
	"strings"
)

// TokenFromRequest returns the client token of a WebSocket handshake: the
// `Authorization: Bearer <jwt>` header (scheme matched case-insensitively,
// RFC 9110 §11.1) or else the `token` query parameter, which browsers need
// because their WebSocket API cannot set headers. It returns
// ErrMissingToken when neither holds a token. Because query strings end up
// in access logs, callers should not log the request URL of /ws.
func TokenFromRequest(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		// Another scheme (say Basic, added by a proxy) is not ours; fall
		// through to the query parameter rather than refuse.
		if strings.EqualFold(scheme, "Bearer") {
			if tok := strings.TrimSpace(rest); tok != "" {
				return tok, nil
			}
		}
	}
	if tok := strings.TrimSpace(r.URL.Query().Get("token")); tok != "" {
		return tok, nil
	}
	return "", ErrMissingToken
}
