package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/sdk"
)

// Worker takes work items from the queue and plays them, Slots at a time,
// each slot with its own tool, reward and model processes.
type Worker struct {
	Conn *Conn
	// Host starts the plugins the items name (built-ins or executables).
	Host  runner.Host
	Slots int
	// ID names the worker in heartbeats and results (default
	// host-pid-random).
	ID string
	// CacheDir keeps fetched weights (default: the user cache directory's
	// lathe/weights).
	CacheDir string
	// Log receives one line per item; nil discards.
	Log io.Writer

	mu     sync.Mutex
	status WorkerStatus
	cache  *weightsCache
	// publishTwice (tests) publishes every result a second time under
	// another message id, past the server's de-duplication.
	publishTwice bool
}

// NewID returns a worker id: host-pid-random.
func NewID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Run works until ctx ends; it returns nil then.
func (w *Worker) Run(ctx context.Context) error {
	if w.Slots <= 0 {
		w.Slots = 1
	}
	if w.ID == "" {
		w.ID = NewID()
	}
	if w.Log == nil {
		w.Log = io.Discard
	}
	if w.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		w.CacheDir = filepath.Join(d, "lathe", "weights")
	}
	w.cache = &weightsCache{conn: w.Conn, dir: w.CacheDir}
	host, _ := os.Hostname()
	w.status = WorkerStatus{ID: w.ID, Host: host, PID: os.Getpid(), Slots: w.Slots, Started: time.Now()}
	cons, err := w.Conn.workConsumer(ctx, DefaultAckWait, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(w.Log, "worker %s: %d slots, taking work from %s\n", w.ID, w.Slots, w.Conn.URL)

	var wg sync.WaitGroup
	wg.Go(func() { w.beat(ctx) })
	for i := range w.Slots {
		wg.Go(func() {
			s := &slot{w: w, n: i}
			defer s.close()
			s.loop(ctx, cons)
		})
	}
	wg.Wait()
	// Gone at once rather than after the heartbeat goes stale.
	_ = w.Conn.workers.Delete(context.Background(), w.ID)
	return nil
}

func (w *Worker) beat(ctx context.Context) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		w.mu.Lock()
		w.status.Updated = time.Now()
		st := w.status
		w.mu.Unlock()
		if b, err := encode(st); err == nil {
			_, _ = w.Conn.workers.Put(ctx, w.ID, b)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) update(f func(*WorkerStatus)) {
	w.mu.Lock()
	f(&w.status)
	w.mu.Unlock()
}

// slot is one item at a time, with the plugin processes of the last item
// kept for the next one that names the same blocks.
type slot struct {
	w                   *Worker
	n                   int
	tool, reward, model *running
	weights             string // loaded into model
}

type running struct {
	inst runner.Instance
	key  string
}

func (s *slot) close() {
	for _, r := range []*running{s.tool, s.reward, s.model} {
		if r != nil {
			r.inst.Kill()
		}
	}
}

func (s *slot) loop(ctx context.Context, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				fmt.Fprintf(s.w.Log, "worker %s: fetch: %v\n", s.w.ID, err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		s.handle(ctx, msg)
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, nats.ErrTimeout) || errors.As(err, &t) && t.Timeout()
}

func (s *slot) handle(ctx context.Context, msg jetstream.Msg) {
	var it Item
	if err := decode(msg.Data(), &it); err != nil {
		fmt.Fprintf(s.w.Log, "worker %s: dropped a work item: %v\n", s.w.ID, err)
		_ = msg.Term()
		return
	}
	s.w.update(func(st *WorkerStatus) { st.Busy++ })
	defer s.w.update(func(st *WorkerStatus) { st.Busy-- })

	// Tell the server the item is in hand, a few times per AckWait, so
	// only a dead worker's items are handed out again.
	wait := DefaultAckWait
	if info, err := msg.Metadata(); err == nil && info.NumDelivered > 1 {
		fmt.Fprintf(s.w.Log, "worker %s: %s delivered %d times\n", s.w.ID, it.ID, info.NumDelivered)
	}
	if ci, err := s.w.Conn.JS.Consumer(ctx, WorkStream, WorkerConsumer); err == nil {
		if c := ci.CachedInfo(); c != nil && c.Config.AckWait > 0 {
			wait = c.Config.AckWait
		}
	}
	playCtx, stop := context.WithCancel(ctx)
	var keep sync.WaitGroup
	keep.Go(func() {
		t := time.NewTicker(max(wait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-playCtx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	t0 := time.Now()
	res := Result{ID: it.ID, Job: it.Job, Shard: it.Shard.Index, Worker: s.w.ID}
	trajs, phases, err := s.play(playCtx, &it)
	stop()
	keep.Wait()
	if ctx.Err() != nil {
		// Shutting down: someone else plays it, now.
		_ = msg.Nak()
		return
	}
	res.Wall, res.Phases, res.Trajectories = time.Since(t0), phases, trajs
	if err != nil {
		res.Err = err.Error()
		s.close() // a failed plugin starts afresh for the next item
		s.tool, s.reward, s.model, s.weights = nil, nil, nil, ""
	}
	data, err := encode(res)
	if err == nil {
		_, err = s.w.Conn.JS.Publish(ctx, resultSubject(it.Job), data, jetstream.WithMsgID(it.ID))
	}
	if err == nil && s.w.publishTwice {
		_, err = s.w.Conn.JS.Publish(ctx, resultSubject(it.Job), data, jetstream.WithMsgID(it.ID+".again"))
	}
	if err != nil {
		fmt.Fprintf(s.w.Log, "worker %s: %s: publish result: %v\n", s.w.ID, it.ID, err)
		_ = msg.Nak()
		return
	}
	if res.Err != "" {
		_ = msg.Term()
		fmt.Fprintf(s.w.Log, "worker %s: %s failed: %s\n", s.w.ID, it.ID, res.Err)
		return
	}
	_ = msg.Ack()
	s.w.update(func(st *WorkerStatus) { st.Items++; st.Episodes += len(trajs) })
	fmt.Fprintf(s.w.Log, "worker %s: %s (%s, %d tasks) %d episodes in %s\n", s.w.ID, it.ID, it.Stage, len(it.Shard.Tasks),
		len(trajs), res.Wall.Round(time.Millisecond))
}

// play runs one item: plugins started or reused, weights loaded before
// the first episode and not touched until the last one ends.
func (s *slot) play(ctx context.Context, it *Item) ([]*rollout.Trajectory, rollout.Phases, error) {
	var ph rollout.Phases
	tool, err := s.ensure(ctx, &s.tool, sdk.KindTool, it.Tool)
	if err != nil {
		return nil, ph, err
	}
	model, err := s.ensure(ctx, &s.model, sdk.KindModel, it.Model)
	if err != nil {
		return nil, ph, err
	}
	if model.fresh {
		s.weights = ""
	}
	if it.Weights != s.weights {
		if it.Weights == "" {
			// The model as configured: a fresh process.
			s.model.inst.Kill()
			s.model = nil
			if model, err = s.ensure(ctx, &s.model, sdk.KindModel, it.Model); err != nil {
				return nil, ph, err
			}
		} else {
			lm, ok := model.inst.Model().(sdk.ModelWithCheckpoints)
			if !ok {
				return nil, ph, fmt.Errorf("cluster: model %s (%s) cannot load checkpoints", it.Model.Label, it.Model.Plugin)
			}
			dir, err := s.w.cache.path(ctx, it.Weights)
			if err != nil {
				return nil, ph, err
			}
			if err := lm.Load(ctx, dir); err != nil {
				return nil, ph, fmt.Errorf("cluster: load weights %s: %w", it.Weights, err)
			}
		}
		s.weights = it.Weights
	}
	e := &rollout.Engine{Tool: tool.inst.Tool(), Model: model.inst.Model(), Phases: &ph, Overlap: true}
	if it.Reward.Plugin != "" {
		reward, err := s.ensure(ctx, &s.reward, sdk.KindReward, it.Reward)
		if err != nil {
			return nil, ph, err
		}
		e.Reward = reward.inst.Reward()
	}
	trajs, err := e.Play(ctx, it.Shard.Tasks, it.Shard.Config)
	return trajs, ph, err
}

type started struct {
	inst  runner.Instance
	fresh bool
}

// ensure returns the slot's instance of spec, starting and configuring a
// new one when there is none or the last item named other options.
func (s *slot) ensure(ctx context.Context, cur **running, kind sdk.Kind, spec PluginSpec) (started, error) {
	key := spec.Plugin + "\x00" + string(spec.Config)
	if *cur != nil && (*cur).key == key {
		return started{inst: (*cur).inst}, nil
	}
	if *cur != nil {
		(*cur).inst.Kill()
		*cur = nil
	}
	inst, err := s.w.Host.Start(ctx, kind, spec.Label, spec.Plugin)
	if err != nil {
		return started{}, fmt.Errorf("cluster: start %s %s (%s): %w", kind, spec.Label, spec.Plugin, err)
	}
	p := runner.PluginOf(inst, kind)
	if p == nil {
		inst.Kill()
		return started{}, fmt.Errorf("cluster: %s (%s) is not a %s plugin", spec.Label, spec.Plugin, kind)
	}
	if err := p.Configure(ctx, spec.Config); err != nil {
		inst.Kill()
		return started{}, fmt.Errorf("cluster: configure %s %s: %w", kind, spec.Label, err)
	}
	*cur = &running{inst: inst, key: key}
	return started{inst: inst, fresh: true}, nil
}
