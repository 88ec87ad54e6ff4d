package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what Herald takes from a verified client token.
type Claims struct {
	// UserID is the sub claim; never empty.
	UserID string
	// Groups is the optional groups claim: the groups joined at connect.
	// Nil when the claim is absent or null.
	Groups []string
	// ExpiresAt is the exp claim; never zero. The WebSocket layer closes
	// the connection (4001) when it passes.
	ExpiresAt time.Time
	// IssuedAt is the iat claim, or the zero time when absent.
	IssuedAt time.Time
}

// tokenClaims is the JSON shape Verify decodes. Groups stays raw until
// Validate, which golang-jwt calls only after the signature verified, so a
// forged token's groups are never even looked at.
type tokenClaims struct {
	jwt.RegisteredClaims
	Groups json.RawMessage `json:"groups,omitempty"`

	groups []string // Groups, checked by Validate
}

// claimError is what Validate returns; classify turns it into ErrClaims.
type claimError struct{ msg string }

func (e claimError) Error() string { return e.msg }

// Validate implements jwt.ClaimsValidator: the checks golang-jwt has no
// option for.
func (c *tokenClaims) Validate() error {
	if c.Subject == "" {
		return claimError{"sub claim is required"}
	}
	groups, err := parseGroups(c.Groups)
	if err != nil {
		return claimError{"groups claim: " + err.Error()}
	}
	c.groups = groups
	return nil
}

// parseGroups accepts an absent or null claim (many encoders write a nil
// slice as null) or a list of non-empty strings, and nothing else.
func parseGroups(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var items []any
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("must be a list of strings")
	}
	groups := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("item %d is not a string", i)
		}
		if s == "" {
			return nil, fmt.Errorf("item %d is empty", i)
		}
		groups = append(groups, s)
	}
	return groups, nil
}

// claims converts the verified token claims for callers.
func (c *tokenClaims) claims() Claims {
	out := Claims{UserID: c.Subject, Groups: c.groups}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	return out
}
