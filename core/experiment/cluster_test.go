package experiment_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/experiment"
)

func TestClusterBlock(t *testing.T) {
	tests := []struct {
		name    string
		src     string // appended to base; @@ marks the diagnostic's subject
		nats    string
		shard   int
		summary string // "" when the block is valid
	}{
		{name: "none", src: ""},
		{name: "defaults", src: "cluster {\n  nats = \"nats://127.0.0.1:4222\"\n}\n", nats: "nats://127.0.0.1:4222", shard: 1},
		{name: "no url (given by lathe run --nats)", src: "cluster {\n  shard_tasks = 3\n}\n", shard: 3},
		{name: "several servers", src: "cluster {\n  nats = \"nats://a:4222,nats://b:4222\"\n}\n", nats: "nats://a:4222,nats://b:4222", shard: 1},
		{name: "not a url", src: "cluster {\n  nats = @@\"127.0.0.1:4222\"\n}\n", summary: "Invalid NATS URL"},
		{name: "credentials", src: "cluster {\n  nats = @@\"nats://me:secret@host:4222\"\n}\n", summary: "Credentials in the experiment file"},
		{name: "zero shard", src: "cluster {\n  shard_tasks = @@0\n}\n", summary: "Invalid cluster setting"},
		{name: "unknown attribute", src: "cluster {\n  @@natz = \"nats://x:1\"\n}\n", summary: "Unsupported argument"},
		{name: "duplicate", src: "cluster {}\n@@cluster {}\n", summary: "Duplicate cluster block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, line, col := base+tt.src, 0, 0
			if tt.summary != "" {
				src, line, col = marked(t, base+tt.src)
			}
			exp, _, diags := load(context.Background(), "t.hcl", []byte(src), nil, testSchemas)
			if tt.summary == "" {
				if diags.HasErrors() {
					t.Fatalf("unexpected diagnostics: %v", diags)
				}
				if tt.src == "" {
					if exp.Cluster != nil {
						t.Fatalf("cluster %+v without a block", exp.Cluster)
					}
					return
				}
				if exp.Cluster == nil || exp.Cluster.NATS() != tt.nats || exp.Cluster.Attrs.Int("shard_tasks") != tt.shard {
					t.Fatalf("cluster %+v, want nats %q shard_tasks %d", exp.Cluster, tt.nats, tt.shard)
				}
				return
			}
			for _, d := range diags {
				if d.Summary == tt.summary {
					if d.Subject == nil || d.Subject.Start.Line != line || d.Subject.Start.Column != col {
						t.Errorf("%q at %v, want %d:%d", d.Summary, d.Subject, line, col)
					}
					return
				}
			}
			var got []string
			for _, d := range diags {
				got = append(got, d.Summary)
			}
			t.Fatalf("no %q among %s", tt.summary, strings.Join(got, "; "))
		})
	}
}

func TestDefaultCluster(t *testing.T) {
	c := experiment.DefaultCluster("nats://h:4222")
	if c.NATS() != "nats://h:4222" || c.Attrs.Int("shard_tasks") != 1 || c.Attrs.Float("ack_wait_s") != 30 || c.Attrs.Float("no_worker_timeout_s") != 60 {
		t.Errorf("DefaultCluster: %+v", c.Attrs)
	}
}
