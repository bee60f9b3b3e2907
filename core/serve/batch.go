package serve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/lathe-ml/lathe/sdk"
)

// job is one HTTP request's contexts waiting for the model.
type job struct {
	ctx      context.Context
	contexts []string
	sampling sdk.Sampling
	// key says which jobs may share a Generate call; "" runs alone.
	key  string
	done chan result // buffered: the batcher never waits for a reader
}

type result struct {
	completions []sdk.Completion
	err         error
}

// batchKey is what a Generate call's jobs must agree on. Greedy decoding
// ignores top_p and the seed; a seeded sampled job runs alone, so its
// samples depend on the request only.
func batchKey(p params) string {
	stop := strings.Join(p.Stop, "\x00")
	if p.Temperature == 0 {
		return fmt.Sprintf("greedy|%d|%q", p.MaxTokens, stop)
	}
	if p.seeded {
		return ""
	}
	return fmt.Sprintf("sample|%g|%g|%d|%q", p.Temperature, p.TopP, p.MaxTokens, stop)
}

// batcher feeds queued jobs to the model, one Generate call at a time.
type batcher struct {
	model    sdk.Model
	maxBatch int
	wait     time.Duration

	mu      sync.Mutex
	pending []*job
	closed  bool
	wake    chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	// calls counts Generate calls and batched the contexts they held,
	// for tests and logs.
	calls, batched int
}

func newBatcher(m sdk.Model, maxBatch int, wait time.Duration) *batcher {
	b := &batcher{model: m, maxBatch: maxBatch, wait: wait,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

// submit queues a job; its result arrives on j.done.
func (b *batcher) submit(j *job) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("the server is shutting down")
	}
	b.pending = append(b.pending, j)
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	left := b.pending
	b.pending = nil
	b.mu.Unlock()
	close(b.quit)
	<-b.stopped
	for _, j := range left {
		j.done <- result{err: errors.New("the server shut down before the request ran")}
	}
}

func (b *batcher) run() {
	defer close(b.stopped)
	for {
		select {
		case <-b.quit:
			return
		case <-b.wake:
		}
		// The model was idle: let a burst of requests arrive together.
		if b.queued() < b.maxBatch {
			t := time.NewTimer(b.wait)
			select {
			case <-t.C:
			case <-b.quit:
				t.Stop()
				return
			}
		}
		for {
			batch := b.take()
			if len(batch) == 0 {
				break
			}
			b.execute(batch)
		}
	}
}

func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, j := range b.pending {
		n += len(j.contexts)
	}
	return n
}

// take removes the oldest live job and every later one that may join it,
// up to maxBatch contexts (a larger job runs alone). Jobs whose client is
// gone are dropped on the way.
func (b *batcher) take() []*job {
	b.mu.Lock()
	defer b.mu.Unlock()
	var batch, rest []*job
	n := 0
	for _, j := range b.pending {
		if j.ctx.Err() != nil {
			j.done <- result{err: j.ctx.Err()}
			continue
		}
		switch {
		case len(batch) == 0:
			batch, n = append(batch, j), len(j.contexts)
		case batch[0].key != "" && j.key == batch[0].key && n+len(j.contexts) <= b.maxBatch:
			batch, n = append(batch, j), n+len(j.contexts)
		default:
			rest = append(rest, j)
		}
	}
	b.pending = rest
	return batch
}

// execute runs one Generate call for the batch and hands each job its
// completions. The call is cancelled once every job's client is gone.
func (b *batcher) execute(batch []*job) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		for _, j := range batch {
			select {
			case <-j.ctx.Done():
			case <-finished:
				return
			}
		}
		cancel()
	}()
	var contexts []string
	for _, j := range batch {
		contexts = append(contexts, j.contexts...)
	}
	S := batch[0].sampling
	if batch[0].key != "" && S.Temperature > 0 {
		// Unseeded samples: a fresh seed per call.
		S.Seed = rand.Int64()
	}
	b.mu.Lock()
	b.calls++
	b.batched += len(contexts)
	b.mu.Unlock()
	resp, err := b.model.Generate(ctx, sdk.GenerateRequest{Contexts: contexts, Sampling: S})
	if err == nil && len(resp.Completions) != len(contexts) {
		err = fmt.Errorf("the model returned %d completions for %d prompts", len(resp.Completions), len(contexts))
	}
	at := 0
	for _, j := range batch {
		if err != nil {
			j.done <- result{err: fmt.Errorf("generate: %w", err)}
			continue
		}
		j.done <- result{completions: resp.Completions[at : at+len(j.contexts)]}
		at += len(j.contexts)
	}
}

// stats returns how many Generate calls ran and how many contexts they held.
func (b *batcher) stats() (calls, contexts int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls, b.batched
}
