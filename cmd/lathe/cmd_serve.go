package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/lathe-ml/lathe/core/serve"
	"github.com/lathe-ml/lathe/core/train"
)

func init() {
	register(command{
		name:    "serve",
		summary: "serve a checkpoint over the OpenAI HTTP API",
		run:     runServe,
	})
}

const serveUsage = `serve --checkpoint DIR [--addr 127.0.0.1:8080] [flags]

Serves the model checkpoint in DIR (a step-N directory, a checkpoints/
directory or a stage directory of a run, whose latest complete checkpoint
is used) over the OpenAI HTTP API: GET /v1/models, POST /v1/completions and
POST /v1/chat/completions, so any OpenAI client, or an experiment's
model "x" { plugin = "openai" } block, can use it. Concurrent requests are
batched into shared Generate calls. It listens on loopback unless --addr
says otherwise; with --api-key-env NAME every request must carry the key
held in $NAME as a bearer token. SIGTERM or Ctrl-C stops it after the
requests in flight have been answered.`

// shutdownGrace bounds how long a stopping server waits for requests in
// flight.
const shutdownGrace = 60 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveUsage, stderr)
	checkpoint := fs.String("checkpoint", "", "checkpoint directory (required)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	name := fs.String("model-name", "", `model id clients send (default "lathe-" and the checkpoint's stage)`)
	keyEnv := fs.String("api-key-env", "", "name of an environment variable holding the bearer token clients must send")
	maxBatch := fs.Int("max-batch", 64, "contexts per Generate call at most")
	batchWait := fs.Duration("batch-wait", 2*time.Millisecond, "how long an idle model waits for more requests to batch with the first")
	verbose := fs.Bool("v", false, "log plugin output")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *checkpoint == "" {
		fs.Usage()
		return errors.New("--checkpoint is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	key := ""
	if *keyEnv != "" {
		if key = os.Getenv(*keyEnv); key == "" {
			return fmt.Errorf("--api-key-env names %s, which is not set in the environment", *keyEnv)
		}
	}
	dir, _, err := train.ResolveCheckpoint(*checkpoint)
	if err != nil {
		return err
	}
	host := newStderrHost(stderr, *verbose)
	defer host.Close()
	model, cur, err := startCheckpointModel(ctx, host, dir)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = "lathe-" + cur.Stage
	}
	srv, err := serve.New(ctx, model, serve.Options{ModelName: *name, APIKey: key, MaxBatch: *maxBatch, BatchWait: *batchWait})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && key == "" {
		fmt.Fprintf(stderr, "warning: %s is reachable beyond this machine and --api-key-env is not set: anyone who reaches it can use the model\n", ln.Addr())
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(stderr, "serving %s (stage %s, step %d) as model %q at http://%s/v1\n", dir, cur.Stage, cur.Step, *name, ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "stopping: answering the requests in flight")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
