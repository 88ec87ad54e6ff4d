package bench

import "context"

// share is a part of the clients: held by this process (localShare) or
// by a worker process (workerShare).
type share interface {
	// ready is closed when every client of the share is connected or has
	// failed.
	ready() <-chan struct{}
	// progress is a recent snapshot of the share's counters.
	progress() progress
	// finish closes the share's clients and returns its final account.
	finish(ctx context.Context) (shareResult, error)
}

// localShare holds its clients in this process.
type localShare struct {
	f    *fleet
	done chan struct{} // closed when connect returns
}

// startLocal starts connecting f in a goroutine that ends with connect.
func startLocal(ctx context.Context, f *fleet) *localShare {
	s := &localShare{f: f, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		f.connect(ctx)
	}()
	return s
}

func (s *localShare) ready() <-chan struct{} { return s.f.ready }
func (s *localShare) progress() progress     { return s.f.progress() }

func (s *localShare) finish(context.Context) (shareResult, error) {
	<-s.done
	s.f.close()
	return s.f.result(), nil
}

// progress is what a share reports while it runs.
type progress struct {
	Connected int64 `json:"connected"`
	Failed    int64 `json:"failed"`
	Live      int64 `json:"live"`
	Received  int64 `json:"received"`
}

func (p *progress) add(o progress) {
	p.Connected += o.Connected
	p.Failed += o.Failed
	p.Live += o.Live
	p.Received += o.Received
}

// shareResult is one share's final account.
type shareResult struct {
	Attempted      int            `json:"attempted"`
	Connected      int64          `json:"connected"`
	Failed         int64          `json:"failed"`
	ConnectSeconds float64        `json:"connect_seconds"`
	DialErrors     map[string]int `json:"dial_errors,omitempty"`
	ServerCloses   map[string]int `json:"server_closes,omitempty"`
	BadFrames      int64          `json:"bad_frames"`
	Foreign        uint64         `json:"foreign"`
	Steps          []histSnapshot `json:"steps"`
}
