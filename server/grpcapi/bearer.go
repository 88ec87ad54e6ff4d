package grpcapi

import "context"

// Bearer is the API key a caller sends on every call as
// "authorization: Bearer <key>", the header authenticate reads. It is
// grpc-go's credentials.PerRPCCredentials (grpc.WithPerRPCCredentials):
// the one type the herald commands and every test dial the API with.
//
// It is sent in plaintext too, as grpcurl -plaintext does: the commands
// dial the node the operator named, and the tests dial loopback. grpc-go's
// oauth credentials refuse a connection without TLS.
type Bearer string

// GetRequestMetadata returns the authorization header.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity reports false: the key may cross plaintext.
func (Bearer) RequireTransportSecurity() bool { return false }
