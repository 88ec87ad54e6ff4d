package tokens

import "errors"

// Sentinel errors. Verify wraps ErrInvalidToken in every refusal, together
// with one of the more specific reasons below (ErrInvalidToken stands alone
// only for a golang-jwt failure none of them describes), so callers can
// answer every refusal the same way and still count the reasons apart.
var (
	// ErrMissingToken means the request or the Verify call carried no token.
	ErrMissingToken = errors.New("tokens: missing token")
	// ErrInvalidToken is wrapped by every refusal of a present token.
	ErrInvalidToken = errors.New("tokens: invalid token")

	// ErrMalformed means the token is not a well-formed JWS compact JWT.
	ErrMalformed = errors.New("tokens: malformed token")
	// ErrAlgorithm means the token's alg is not accepted by any configured
	// key (this covers "none" and algorithm confusion).
	ErrAlgorithm = errors.New("tokens: algorithm not accepted")
	// ErrUnknownKey means the JWKS has no key that matches the token's kid
	// and fits its alg.
	ErrUnknownKey = errors.New("tokens: unknown signing key")
	// ErrSignature means the signature does not verify.
	ErrSignature = errors.New("tokens: bad signature")
	// ErrAudience means the aud claim does not list the configured
	// audience. (A token with no aud at all gets ErrClaims.)
	ErrAudience = errors.New("tokens: wrong audience")
	// ErrIssuer means the iss claim is not the configured issuer. (A token
	// with no iss at all gets ErrClaims.)
	ErrIssuer = errors.New("tokens: wrong issuer")
	// ErrClaims means a required claim is missing (sub, exp, and aud or iss
	// when configured) or a claim such as groups has the wrong shape.
	ErrClaims = errors.New("tokens: invalid claims")
	// ErrNotYetValid means the nbf claim is still in the future beyond the
	// leeway.
	ErrNotYetValid = errors.New("tokens: token not valid yet")
	// ErrExpired means the exp claim has passed (exp gets no leeway).
	// The WebSocket layer reports it apart because clients fix it by
	// refreshing their token, not by fixing their setup.
	ErrExpired = errors.New("tokens: token expired")
)

// tokenError is a refusal: a reason sentinel, ErrInvalidToken, and the
// underlying cause (often a golang-jwt error) for the message.
type tokenError struct {
	reason error
	cause  error
}

func refuse(reason, cause error) error { return &tokenError{reason: reason, cause: cause} }

func (e *tokenError) Error() string {
	if e.cause == nil {
		return e.reason.Error()
	}
	return e.reason.Error() + ": " + e.cause.Error()
}

// Unwrap exposes the reason, ErrInvalidToken and the cause to errors.Is.
func (e *tokenError) Unwrap() []error {
	errs := []error{e.reason, ErrInvalidToken}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}
