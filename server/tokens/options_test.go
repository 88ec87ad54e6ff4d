package tokens_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/herald-push/herald/server/tokens"
)

func TestNewVerifierRefusesBadOptions(t *testing.T) {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pemOf(t, &k.rsa.PublicKey)
	for _, tc := range []struct {
		name    string
		opts    tokens.Options
		setting string // the error must start with it
	}{
		{"no key source", tokens.Options{}, "tokens: Options.Secret:"},
		{"short secret", tokens.Options{Secret: []byte("hunter2")}, "tokens: Options.Secret:"},
		{"secret is the public key", tokens.Options{Secret: rsaPEM, PublicKeyPEM: rsaPEM}, "tokens: Options.Secret:"},
		{"not PEM", tokens.Options{PublicKeyPEM: []byte("ssh-ed25519 AAAA")}, "tokens: Options.PublicKeyPEM:"},
		{"private key", tokens.Options{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})}, "tokens: Options.PublicKeyPEM:"},
		{"RSA 1024", tokens.Options{PublicKeyPEM: pemOf(t, &small.PublicKey)}, "tokens: Options.PublicKeyPEM:"},
		{"P-224", tokens.Options{PublicKeyPEM: pemOf(t, &p224.PublicKey)}, "tokens: Options.PublicKeyPEM:"},
		{"jwks http to a remote host", tokens.Options{JWKSURL: "http://id.example/jwks.json"}, "tokens: Options.JWKSURL:"},
		{"jwks ftp", tokens.Options{JWKSURL: "ftp://id.example/jwks.json"}, "tokens: Options.JWKSURL:"},
		{"jwks no host", tokens.Options{JWKSURL: "https:///jwks.json"}, "tokens: Options.JWKSURL:"},
		{"negative leeway", tokens.Options{Secret: testSecret, Leeway: -time.Second}, "tokens: Options.Leeway "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tokens.NewVerifier(context.Background(), tc.opts)
			if err == nil {
				v.Close()
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), tc.setting) {
				t.Fatalf("err = %q; want it to name %s", err, tc.setting)
			}
		})
	}
}

// TestPublicKeyPEMForms checks the PEM shapes operators are handed:
// PKIX, PKCS#1 and a certificate.
func TestPublicKeyPEMForms(t *testing.T) {
	k := testKeys()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.rsa.PublicKey, k.rsa)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claims(), nil)
	for name, p := range map[string][]byte{
		"PUBLIC KEY":     pemOf(t, &k.rsa.PublicKey),
		"RSA PUBLIC KEY": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}),
		"CERTIFICATE":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
	} {
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, tokens.Options{PublicKeyPEM: p})
			if _, err := v.Verify(tok); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// TestVerifierKeepsItsOwnSecret checks that changing the caller's slice
// after NewVerifier changes nothing.
func TestVerifierKeepsItsOwnSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	v := newVerifier(t, tokens.Options{Secret: secret})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, claims(), nil)
	secret[0] ^= 0xff
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
