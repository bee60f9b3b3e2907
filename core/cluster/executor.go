package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// Executor plays shards on the workers: a rollout.Executor for a run.
type Executor struct {
	Conn *Conn
	// Stage labels items and progress lines.
	Stage               string
	Tool, Reward, Model PluginSpec
	// Weights, when set, is the model whose checkpoint the workers load
	// (saved and uploaded before every Play call; unchanged weights are not
	// uploaded again). Nil plays the model as configured.
	Weights sdk.ModelWithCheckpoints
	// AckWait is how long a silent worker keeps an item; NoWorker is how
	// long the run waits with no live worker before it gives up.
	AckWait, NoWorker time.Duration
	// Progress receives a line about workers and throughput every
	// ProgressEvery (default 10 s) and when a Play call ends; nil discards.
	Progress      io.Writer
	ProgressEvery time.Duration

	mu        sync.Mutex
	run       string
	jobs      int
	configure sync.Once
	cfgErr    error
	// Stats of the last PlayShards call, for tests and measurements.
	last Stats
}

// Stats counts what one PlayShards call saw.
type Stats struct {
	Items, Duplicates int
	// PerWorker counts the episodes each worker returned.
	PerWorker map[string]int
	Wall      time.Duration
	// WeightsBytes is what was uploaded (0 when the checkpoint was there).
	WeightsBytes int
}

// Last returns the statistics of the last PlayShards call.
func (e *Executor) Last() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// ErrNoWorker is wrapped by the error of a Play call that found no live
// worker for NoWorker.
var ErrNoWorker = errors.New("no live worker")

// PlayShards implements rollout.Executor.
func (e *Executor) PlayShards(ctx context.Context, shards []rollout.Shard) ([][]*rollout.Trajectory, error) {
	t0 := time.Now()
	e.configure.Do(func() {
		e.run = strings.ToLower(nuid.Next())
		if e.AckWait <= 0 {
			e.AckWait = DefaultAckWait
		}
		if e.NoWorker <= 0 {
			e.NoWorker = time.Minute
		}
		if e.ProgressEvery <= 0 {
			e.ProgressEvery = 10 * time.Second
		}
		if e.Progress == nil {
			e.Progress = io.Discard
		}
		_, e.cfgErr = e.Conn.workConsumer(ctx, e.AckWait, true)
	})
	if e.cfgErr != nil {
		return nil, e.cfgErr
	}
	stats := Stats{Items: len(shards), PerWorker: map[string]int{}}
	var weights string
	if e.Weights != nil {
		h, n, err := e.Conn.PutWeights(ctx, e.Weights)
		if err != nil {
			return nil, err
		}
		weights, stats.WeightsBytes = h, n
	}
	e.mu.Lock()
	e.jobs++
	job := fmt.Sprintf("%s-%d", e.run, e.jobs)
	e.mu.Unlock()

	// The results of this job, from the first: subscribed before any item
	// is out, so none is missed.
	cons, err := e.Conn.JS.OrderedConsumer(ctx, ResultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{resultSubject(job)}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe to results: %w", err)
	}
	iter, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe to results: %w", err)
	}
	defer func() {
		iter.Stop()
		// Unclaimed items of a failed or cancelled call go; results are
		// not needed once read.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = e.Conn.work.Purge(bg, jetstream.WithPurgeSubject(workSubject(job)))
		_ = e.Conn.results.Purge(bg, jetstream.WithPurgeSubject(resultSubject(job)))
	}()
	type arrival struct {
		res Result
		err error
	}
	arrivals := make(chan arrival, 16)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			msg, err := iter.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					close(arrivals)
					return
				}
				time.Sleep(50 * time.Millisecond) // the consumer is being recreated
				continue
			}
			var r Result
			err = decode(msg.Data(), &r)
			select {
			case arrivals <- arrival{r, err}:
			case <-quit:
				return
			}
		}
	}()

	for _, s := range shards {
		it := Item{ID: fmt.Sprintf("%s.%d", job, s.Index), Job: job, Stage: e.Stage, Shard: s,
			Tool: e.Tool, Reward: e.Reward, Model: e.Model, Weights: weights}
		data, err := encode(it)
		if err != nil {
			return nil, err
		}
		if _, err := e.Conn.JS.Publish(ctx, workSubject(job), data, jetstream.WithMsgID(it.ID)); err != nil {
			return nil, fmt.Errorf("cluster: publish work item %s: %w", it.ID, err)
		}
	}

	out := make([][]*rollout.Trajectory, len(shards))
	done := 0
	lastLive := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastLine := time.Now()
	report := func(live []WorkerStatus) {
		el := time.Since(t0)
		var parts []string
		ids := make([]string, 0, len(stats.PerWorker))
		for id := range stats.PerWorker {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf("%s %.2f ep/s", id, float64(stats.PerWorker[id])/el.Seconds()))
		}
		line := fmt.Sprintf("%-12s cluster: %d/%d items, %d live workers", e.Stage, done, len(shards), len(live))
		if len(parts) > 0 {
			line += " (" + strings.Join(parts, ", ") + ")"
		}
		fmt.Fprintf(e.Progress, "%s  elapsed %s\n", line, el.Round(time.Second))
	}
	var live []WorkerStatus
	for done < len(shards) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case a, ok := <-arrivals:
			if !ok {
				return nil, errors.New("cluster: the result subscription ended")
			}
			if a.err != nil {
				return nil, a.err
			}
			r := a.res
			if r.Shard < 0 || r.Shard >= len(shards) || r.Job != job {
				continue
			}
			if out[r.Shard] != nil {
				stats.Duplicates++
				continue
			}
			if r.Err != "" {
				return nil, fmt.Errorf("cluster: worker %s, shard %d of %s: %s", r.Worker, r.Shard, e.Stage, r.Err)
			}
			if err := r.check(); err != nil {
				return nil, fmt.Errorf("cluster: worker %s, shard %d of %s: %w", r.Worker, r.Shard, e.Stage, err)
			}
			if r.Trajectories == nil {
				r.Trajectories = []*rollout.Trajectory{}
			}
			out[r.Shard] = r.Trajectories
			stats.PerWorker[r.Worker] += len(r.Trajectories)
			done++
			lastLive = time.Now()
		case <-tick.C:
			ws, err := e.Conn.Workers(ctx)
			if err == nil {
				live = ws
				if len(ws) > 0 {
					lastLive = time.Now()
				}
			}
			if time.Since(lastLive) > e.NoWorker {
				return nil, fmt.Errorf("cluster: %w on %s for %s (%d of %d items of %s done): start one with `lathe worker --nats %s`",
					ErrNoWorker, e.Conn.URL, e.NoWorker.Round(time.Second), done, len(shards), e.Stage, e.Conn.URL)
			}
			if time.Since(lastLine) >= e.ProgressEvery {
				lastLine = time.Now()
				report(live)
			}
		}
	}
	stats.Wall = time.Since(t0)
	if ws, err := e.Conn.Workers(ctx); err == nil {
		live = ws
	}
	report(live)
	e.mu.Lock()
	e.last = stats
	e.mu.Unlock()
	return out, nil
}
