package pushsvc

import (
	"context"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// HandleFrame decodes and acts on one binary message from the client. It
// returns an error wrapping ErrInvalidFrame for a message that is not a
// ClientFrame; the caller closes the connection with 1007. The context is
// not used: a Resume's replay may outlast the call (resume.go), and ends
// with the session or the service instead.
func (s *Session) HandleFrame(_ context.Context, data []byte) error {
	s.svc.stats.messagesIn.Add(1)
	s.svc.stats.bytesIn.Add(uint64(len(data)))
	f, err := DecodeClientFrame(data)
	if err != nil {
		return err
	}
	if _, ok := f.Kind.(*clientv1.ClientFrame_Resume); !ok {
		// Any other first frame means no Resume is coming.
		s.releaseHold()
	}
	switch k := f.Kind.(type) {
	case *clientv1.ClientFrame_Ping:
		s.enqueue(marshalFrame(&clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Pong{
			Pong: &clientv1.Pong{Nonce: k.Ping.GetNonce()}}}))
	case *clientv1.ClientFrame_RefreshToken:
		s.refresh(k.RefreshToken.GetToken())
	case *clientv1.ClientFrame_Resume:
		s.resume(k.Resume)
	case *clientv1.ClientFrame_Ack:
		s.ack(k.Ack)
	}
	return nil
}

func (s *Session) refresh(token string) {
	if s.info.OnRefresh == nil {
		s.sendError("refresh_unsupported", "this server does not accept token refresh")
		return
	}
	if err := s.info.OnRefresh(token); err != nil {
		s.sendError("invalid_token", err.Error())
	}
}

func (s *Session) sendError(code, msg string) {
	s.enqueue(marshalFrame(&clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Error{
		Error: &clientv1.Error{Code: code, Message: msg}}}))
}
