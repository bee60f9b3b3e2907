package runner

import "context"

// WithRun returns a copy of r in which kind name runs fn, untyped (nil:
// the kind is known but not implemented), so that tests run the built-in
// kinds' schemas with fake implementations.
func (r *Registry) WithRun(name string, fn func(context.Context, *StageEnv) (Outputs, error)) *Registry {
	c := *r
	c.kinds = make(map[string]kind, len(r.kinds))
	for n, k := range r.kinds {
		c.kinds[n] = k
	}
	k := c.kinds[name]
	k.run = fn
	c.kinds[name] = k
	return &c
}
