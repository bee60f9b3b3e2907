package serve

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/plugins/transformer"
	"github.com/lathe-ml/lathe/sdk"
)

// BenchmarkServeBatch compares a batch of concurrent requests through the
// server with the same contexts in one direct Generate call, interleaved
// in every iteration so both see the same machine load:
//
//	go test -run '^$' -bench ServeBatch -benchtime 5x ./core/serve
//
// The model is the quickstart's transformer (2 layers, d_model 128,
// context 512), untrained, with the prefix cache off so that every
// iteration does the full work; 32 different contexts of about 1,300
// bytes (a numbered program and feedback, as coedit shows them), greedy,
// 32 tokens each and no stop string, so both ways generate exactly the
// same tokens. It reports generated tokens per second both ways, their
// ratio (served/direct), how many Generate calls the server made per
// batch, and the ratio for a server that does not batch (MaxBatch 1: one
// Generate call per request), which is what batching buys.
func BenchmarkServeBatch(b *testing.B) {
	const batch, maxTokens = 32, 32
	ctx := context.Background()
	m := transformer.New()
	m.SetLogger(hclog.NewNullLogger())
	cfg, _ := sdk.ConfigFrom(map[string]any{"layers": 2.0, "d_model": 128.0, "heads": 4.0, "context": 512.0, "vocab": 1024.0, "prefix_cache_mb": 0.0})
	if err := m.Configure(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	contexts := make([]string, batch)
	for i := range contexts {
		var sb strings.Builder
		for l := 1; l <= 30; l++ {
			fmt.Fprintf(&sb, "L %d     total = total + values[%d] * %d\n", l, (l*7+i)%30, i)
		}
		fmt.Fprintf(&sb, "***\nAssertionError: f(%d) returned %d\n$ ", i, i*3)
		contexts[i] = sb.String()
	}
	s, err := New(ctx, m, Options{ModelName: "bench", BatchWait: 2 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); s.Close() }()
	one, err := New(ctx, m, Options{ModelName: "bench", MaxBatch: 1})
	if err != nil {
		b.Fatal(err)
	}
	ts1 := httptest.NewServer(one)
	defer func() { ts1.Close(); one.Close() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: batch}}
	post := func(url string) {
		var wg sync.WaitGroup
		errs := make([]error, batch)
		for i, c := range contexts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"model": "bench", "prompt": %q, "max_tokens": %d, "temperature": 0}`, c, maxTokens)
				res, err := client.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
				if err != nil {
					errs[i] = err
					return
				}
				defer res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs[i] = fmt.Errorf("status %s", res.Status)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}

	var direct, served, unbatched time.Duration
	calls0, _ := s.queue.stats()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		resp, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: contexts, Sampling: sdk.Sampling{Temperature: 0, MaxTokens: maxTokens}})
		if err != nil {
			b.Fatal(err)
		}
		direct += time.Since(t0)
		for _, c := range resp.Completions {
			if len(c.Tokens) != maxTokens {
				b.Fatalf("direct completion of %d tokens, want %d", len(c.Tokens), maxTokens)
			}
		}

		t0 = time.Now()
		post(ts.URL)
		served += time.Since(t0)

		t0 = time.Now()
		post(ts1.URL)
		unbatched += time.Since(t0)
	}
	b.StopTimer()
	calls, _ := s.queue.stats()
	tokens := float64(batch * maxTokens * b.N)
	b.ReportMetric(tokens/direct.Seconds(), "direct_tok/s")
	b.ReportMetric(tokens/served.Seconds(), "served_tok/s")
	b.ReportMetric(direct.Seconds()/served.Seconds(), "served/direct")
	b.ReportMetric(float64(calls-calls0)/float64(b.N), "generate_calls/batch")
	b.ReportMetric(direct.Seconds()/unbatched.Seconds(), "unbatched/direct")
}
