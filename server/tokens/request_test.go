package tokens_test

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/herald-push/herald/server/tokens"
)

func TestTokenFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		authz  string
		want   string // "" means ErrMissingToken
	}{
		{"bearer header", "/ws", "Bearer abc.def.ghi", "abc.def.ghi"},
		{"scheme is case-insensitive", "/ws", "bearer abc", "abc"},
		{"extra spaces", "/ws", "  BEARER   abc  ", "abc"},
		{"query parameter", "/ws?token=abc", "", "abc"},
		{"header wins over query", "/ws?token=fromquery", "Bearer fromheader", "fromheader"},
		{"other scheme falls back to query", "/ws?token=abc", "Basic dXNlcjpwdw==", "abc"},
		{"other scheme alone", "/ws", "Basic dXNlcjpwdw==", ""},
		{"bearer without token", "/ws", "Bearer", ""},
		{"bearer with blank token", "/ws", "Bearer   ", ""},
		{"empty query token", "/ws?token=", "", ""},
		{"neither", "/ws", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			if tc.authz != "" {
				r.Header.Set("Authorization", tc.authz)
			}
			got, err := tokens.TokenFromRequest(r)
			if tc.want == "" {
				if !errors.Is(err, tokens.ErrMissingToken) {
					t.Fatalf("got %q, %v; want ErrMissingToken", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
