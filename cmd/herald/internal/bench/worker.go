package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"
)

// The worker protocol: the parent writes one workerSpec line on the
// worker's stdin, then, when the run is over, one workerCmd line (or just
// closes stdin). The worker writes workerMsg lines on stdout: progress
// every progressEvery, one ready line when its clients are connected, and
// one result line after it has closed them. Its stderr is the parent's.

const progressEvery = 200 * time.Millisecond

type workerSpec struct {
	Fleet fleetSpec `json:"fleet"`
	// Deadline ends the worker by itself should the parent vanish
	// without closing its stdin.
	Deadline time.Time `json:"deadline"`
}

type workerCmd struct {
	Close bool `json:"close"`
}

type workerMsg struct {
	Progress *progress    `json:"progress,omitempty"`
	Ready    bool         `json:"ready,omitempty"`
	Result   *shareResult `json:"result,omitempty"`
}

// RunWorker is the hidden `herald bench --worker` mode: it reads its share
// of the clients from in, opens them, reports on out, and closes them when
// told to, when in ends or at the spec's deadline.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	// An interrupt at the terminal reaches the whole process group; the
	// parent decides when the workers stop, so they ignore it.
	signal.Ignore(os.Interrupt)
	dec := json.NewDecoder(in)
	var spec workerSpec
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("worker: reading the spec: %w", err)
	}
	raiseFileLimit()
	f, err := newFleet(spec.Fleet)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	ctx, cancel := context.WithDeadline(ctx, spec.Deadline)
	defer cancel()

	// stop is closed when the parent says so or its pipe ends. The reader
	// goroutine may stay blocked on in until the process exits: nothing
	// can interrupt a read on a pipe.
	stop := make(chan struct{})
	go func() {
		var cmd workerCmd
		_ = dec.Decode(&cmd)
		close(stop)
	}()
	connectCtx, connectCancel := context.WithCancel(ctx)
	defer connectCancel()
	connected := make(chan struct{})
	go func() {
		defer close(connected)
		f.connect(connectCtx)
	}()

	enc := json.NewEncoder(out)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	readySent := false
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		case <-ctx.Done():
			done = true
		case <-connected:
			if !readySent {
				readySent = true
				p := f.progress()
				if err := enc.Encode(workerMsg{Progress: &p, Ready: true}); err != nil {
					done = true
				}
			}
			connected = nil // a nil channel never fires again
		case <-tick.C:
			p := f.progress()
			if err := enc.Encode(workerMsg{Progress: &p}); err != nil {
				done = true // the parent is gone
			}
		}
	}
	connectCancel()
	<-f.ready
	f.close()
	res := f.result()
	return enc.Encode(workerMsg{Result: &res})
}

// workerShare is a worker process holding a share of the clients.
type workerShare struct {
	// immutable after startWorker
	cmd   *exec.Cmd
	stdin io.WriteCloser

	last    atomic.Pointer[progress]
	readyCh chan struct{}
	once    sync.Once     // closes readyCh
	done    chan struct{} // closed when the reader goroutine ends
	result  *shareResult  // written before done is closed
	readErr error         // written before done is closed
}

// startWorker starts a worker process for spec; the process lives at most
// until ctx ends.
func startWorker(ctx context.Context, newCmd func(context.Context) *exec.Cmd, spec workerSpec) (*workerShare, error) {
	cmd := newCmd(ctx)
	cmd.Stderr = os.Stderr
	// After the parent's pipes close, a stuck worker gets this long before
	// it is killed.
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	w := &workerShare{cmd: cmd, stdin: stdin, readyCh: make(chan struct{}), done: make(chan struct{})}
	w.last.Store(&progress{})
	go w.read(stdout)
	if err := json.NewEncoder(stdin).Encode(spec); err != nil {
		_ = stdin.Close()
		<-w.done
		_ = cmd.Wait()
		return nil, fmt.Errorf("worker %d: sending its spec: %w", cmd.Process.Pid, err)
	}
	return w, nil
}

// read decodes the worker's messages until its stdout ends.
func (w *workerShare) read(r io.Reader) {
	defer close(w.done)
	defer w.once.Do(func() { close(w.readyCh) }) // a dead worker is not waited for
	dec := json.NewDecoder(r)
	for {
		var m workerMsg
		if err := dec.Decode(&m); err != nil {
			if w.result == nil {
				w.readErr = fmt.Errorf("worker %d ended without a result: %w", w.cmd.Process.Pid, err)
			}
			_, _ = io.Copy(io.Discard, r)
			return
		}
		if m.Progress != nil {
			w.last.Store(m.Progress)
		}
		if m.Ready {
			w.once.Do(func() { close(w.readyCh) })
		}
		if m.Result != nil {
			w.result = m.Result
		}
	}
}

func (w *workerShare) ready() <-chan struct{} { return w.readyCh }
func (w *workerShare) progress() progress     { return *w.last.Load() }

func (w *workerShare) finish(ctx context.Context) (shareResult, error) {
	_ = json.NewEncoder(w.stdin).Encode(workerCmd{Close: true})
	_ = w.stdin.Close()
	select {
	case <-w.done:
	case <-ctx.Done():
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	werr := w.cmd.Wait()
	if w.result == nil {
		return shareResult{}, errors.Join(w.readErr, werr)
	}
	return *w.result, nil
}

// defaultWorkerCmd runs this executable as `herald bench --worker`.
func defaultWorkerCmd(ctx context.Context) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.CommandContext(ctx, exe, "bench", "--worker")
}
