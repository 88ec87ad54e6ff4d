package tokens

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// minRSABits is the smallest RSA modulus accepted, from the PEM file or a
// JWKS: 1024-bit keys are within reach of well-funded attackers, and NIST
// retired them in 2013.
const minRSABits = 2048

// Algorithm sets per kind of key. Each source's parser is built with the
// set of its key, never a union, so no token can pick a verification
// routine its key was not made for.
var (
	hmacMethods = []string{"HS256", "HS384", "HS512"}
	rsaMethods  = []string{"RS256", "RS384", "RS512"}
	// JWKS keys may be of any asymmetric kind; keyFits still pairs each
	// token with a key of the right type and curve.
	jwksMethods = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// CheckPublicKeyPEM reports why data is not a public key NewVerifier
// accepts as Options.PublicKeyPEM, or nil.
func CheckPublicKeyPEM(data []byte) error {
	_, _, err := parsePublicKeyPEM(data)
	return err
}

// parsePublicKeyPEM reads the first PEM block of data as a public key and
// returns it with the algorithms it may verify. Private keys are refused
// rather than silently reduced to their public half: a private key in a
// verifier's config is a leak waiting to happen.
func parsePublicKeyPEM(data []byte) (key any, methods []string, err error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, nil, fmt.Errorf("is a %s; give the public key only", block.Type)
		}
		return nil, nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits {
			return nil, nil, fmt.Errorf("RSA key of %d bits is too small; use at least %d", n, minRSABits)
		}
		return k, rsaMethods, nil
	case *ecdsa.PublicKey:
		// RFC 7518 §3.4 ties each ES algorithm to one curve.
		switch k.Curve.Params().BitSize {
		case 256:
			return k, []string{"ES256"}, nil
		case 384:
			return k, []string{"ES384"}, nil
		case 521:
			return k, []string{"ES512"}, nil
		}
		return nil, nil, fmt.Errorf("ECDSA curve %s is not supported; use P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return k, []string{"EdDSA"}, nil
	default:
		return nil, nil, fmt.Errorf("%T keys are not supported; use RSA, ECDSA or Ed25519", key)
	}
}

// keyFits reports whether key is the kind, size and curve the token's
// signing method needs. golang-jwt checks the Go type too, but only after
// the fact; checking first keeps a JWKS from pairing, say, an ES256 token
// with a P-384 key, or any token with a symmetric JWK.
func keyFits(method jwt.SigningMethod, key any) bool {
	switch m := method.(type) {
	case *jwt.SigningMethodRSA:
		k, ok := key.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= minRSABits
	case *jwt.SigningMethodECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve.Params().BitSize == m.CurveBits
	case *jwt.SigningMethodEd25519:
		k, ok := key.(ed25519.PublicKey)
		return ok && len(k) == ed25519.PublicKeySize
	default:
		return false
	}
}
