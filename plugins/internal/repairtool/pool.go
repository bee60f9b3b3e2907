package repairtool

import (
	"context"
	"sync"
	"time"

	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/sdk/serve"
)

// statsEvery is how often a busy pool logs its counters (checks, cache hit
// rate, workers replaced) into the plugin's log, which the host copies
// into the run's log.
const statsEvery = time.Minute

// PoolFactory starts a sandbox.Pool with o's workers and timeout; the tool
// closes it on Shutdown. The pool outlives the request that started it
// (over gRPC, ctx ends with that request), so only ctx's values are kept.
func PoolFactory(ctx context.Context, o Options) (sandbox.Runner, func() error, error) {
	p, err := sandbox.NewPool(context.WithoutCancel(ctx), sandbox.Options{Workers: o.Workers, Timeout: seconds(o.TimeoutS)})
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go logStats(p, done)
	var once sync.Once
	stop := func() error {
		once.Do(func() { close(done) })
		return p.Close()
	}
	return p, stop, nil
}

// logStats logs the pool's counters every statsEvery while they change.
func logStats(p *sandbox.Pool, done <-chan struct{}) {
	log := serve.Logger().Named("sandbox")
	tick := time.NewTicker(statsEvery)
	defer tick.Stop()
	var last int64
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			st := p.Stats()
			if st.Checks == last {
				continue
			}
			last = st.Checks
			log.Info("sandbox stats", "checks", st.Checks, "cache_hits", st.CacheHits,
				"hit_rate", st.HitRate(), "executed", st.Executed, "replaced_workers", st.Replaced)
		}
	}
}
