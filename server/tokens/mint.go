package tokens

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MintClaims describe a token for Mint.
type MintClaims struct {
	// UserID becomes sub; required.
	UserID string
	// Groups becomes the groups claim; omitted when empty. Each must be
	// non-empty, as Verify requires.
	Groups []string
	// TTL is how long the token is valid from Now; must be positive.
	TTL time.Duration
	// Audience becomes aud when set.
	Audience string
	// Issuer becomes iss when set.
	Issuer string
	// Now replaces time.Now, for tests. Nil means time.Now.
	Now func() time.Time
}

// mintClaims is the JSON Mint signs: the registered claims plus groups.
type mintClaims struct {
	jwt.RegisteredClaims
	Groups []string `json:"groups,omitempty"`
}

// Mint returns an HS256 token for c signed with secret, the way the
// `herald token` command and tests make tokens. It does not judge the
// secret's strength (NewVerifier does); it only refuses an empty one.
func Mint(secret []byte, c MintClaims) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("tokens: mint: empty secret")
	}
	if c.UserID == "" {
		return "", errors.New("tokens: mint: user id is required")
	}
	if c.TTL <= 0 {
		return "", fmt.Errorf("tokens: mint: ttl %v must be positive", c.TTL)
	}
	for i, g := range c.Groups {
		if g == "" {
			return "", fmt.Errorf("tokens: mint: group %d is empty", i)
		}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now()
	claims := mintClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.UserID,
			Issuer:    c.Issuer,
			IssuedAt:  jwt.NewNumericDate(t),
			ExpiresAt: jwt.NewNumericDate(t.Add(c.TTL)),
		},
		Groups: c.Groups,
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("tokens: mint: %w", err)
	}
	return tok, nil
}
