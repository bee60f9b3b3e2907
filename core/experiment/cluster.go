package experiment

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Cluster is the experiment's cluster block: its eval episodes and GRPO
// rollouts are played by workers (`lathe worker`) that a NATS JetStream
// server hands them to, while training stays in the run. Credentials are
// never part of it: they come from the environment (see core/cluster).
//
//	cluster {
//	  nats        = "nats://10.0.0.5:4222"
//	  shard_tasks = 1   # tasks per work item
//	}
type Cluster struct {
	// Attrs holds nats (the server URL, "" when given on the command
	// line), shard_tasks, ack_wait_s and no_worker_timeout_s.
	Attrs    Values
	DefRange hcl.Range
	// Local, set by `lathe run --local`, plays the work items in the run
	// itself, sharded and seeded as workers would play them, so the
	// results equal those of the cluster.
	Local bool
}

// clusterFields are the attributes of the cluster block.
type clusterFields struct {
	NATS             string  `attr:"nats" default:""`
	ShardTasks       int     `attr:"shard_tasks" default:"1"`
	AckWaitS         float64 `attr:"ack_wait_s" default:"30"`
	NoWorkerTimeoutS float64 `attr:"no_worker_timeout_s" default:"60"`
}

var clusterAttrs = mustSpecs(&clusterFields{})

// DefaultCluster is the cluster block that `lathe run --nats URL` adds to
// an experiment that has none.
func DefaultCluster(url string) *Cluster {
	c := &Cluster{Attrs: Values{}}
	for _, sp := range clusterAttrs {
		c.Attrs[sp.Name] = sp.Default
	}
	c.Attrs["nats"] = url
	return c
}

// NATS returns the server URL(s) the block names.
func (c *Cluster) NATS() string { return c.Attrs.String("nats") }

// cluster decodes the (single) cluster block.
func (r *resolver) cluster(b *hcl.Block) {
	if r.exp.Cluster != nil {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate cluster block",
			Detail:   fmt.Sprintf("An experiment file has at most one cluster block; the first was defined at %s.", r.exp.Cluster.DefRange),
			Subject:  b.DefRange.Ptr(),
		})
		return
	}
	vals, ranges := r.decodeAttrs(b.Body, clusterAttrs, nil, "cluster")
	c := &Cluster{Attrs: vals, DefRange: b.DefRange}
	if u := c.NATS(); u != "" {
		for _, one := range strings.Split(u, ",") {
			if !strings.Contains(one, "://") {
				rng := ranges["nats"]
				r.diags = append(r.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid NATS URL",
					Detail:   fmt.Sprintf("%q is not a URL: write nats://HOST:PORT (several separated by commas). Credentials belong in LATHE_NATS_USER/LATHE_NATS_PASSWORD, LATHE_NATS_TOKEN or LATHE_NATS_CREDS, never in the experiment file.", one),
					Subject:  &rng,
				})
			} else if strings.Contains(one, "@") {
				rng := ranges["nats"]
				r.diags = append(r.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Credentials in the experiment file",
					Detail:   "The NATS URL carries a user or token; remove it and set LATHE_NATS_USER/LATHE_NATS_PASSWORD, LATHE_NATS_TOKEN or LATHE_NATS_CREDS (a creds file) in the environment instead, so that run directories never record secrets.",
					Subject:  &rng,
				})
			}
		}
	}
	for _, name := range []string{"shard_tasks", "ack_wait_s", "no_worker_timeout_s"} {
		if vals.Float(name) <= 0 {
			rng := ranges[name]
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid cluster setting",
				Detail:   fmt.Sprintf("%s must be positive.", name),
				Subject:  &rng,
			})
		}
	}
	r.exp.Cluster = c
}
