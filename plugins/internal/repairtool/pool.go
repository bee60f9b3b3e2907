package repairtool

import (
	"context"

	"github.com/lathe-ml/lathe/core/sandbox"
)

// PoolFactory starts a sandbox.Pool with o's workers and timeout; the tool
// closes it on Shutdown. The pool outlives the request that started it
// (over gRPC, ctx ends with that request), so only ctx's values are kept.
func PoolFactory(ctx context.Context, o Options) (sandbox.Runner, func() error, error) {
	p, err := sandbox.NewPool(context.WithoutCancel(ctx), sandbox.Options{Workers: o.Workers, Timeout: seconds(o.TimeoutS)})
	if err != nil {
		return nil, nil, err
	}
	return p, p.Close, nil
}
