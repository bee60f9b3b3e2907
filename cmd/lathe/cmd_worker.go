package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lathe-ml/lathe/core/cluster"
	"github.com/lathe-ml/lathe/core/cluster/deploy"
	"github.com/lathe-ml/lathe/core/runner"
)

func init() {
	register(command{
		name:    "worker",
		summary: "play episodes for runs on a NATS JetStream server (lathe run --nats)",
		run:     runWorker,
	})
}

const workerUsage = `worker --nats URL [--slots N] [--cache DIR]

Takes work items (shards of eval episodes and GRPO rollouts) from the
JetStream work queue of the server at URL (several separated by commas),
plays each one with local plugin processes (the built-ins of this binary,
or executables at the paths the experiment names, which must exist on this
machine), and publishes the trajectories. Model weights are fetched by
content hash from the server's object store and cached in --cache; a slot
loads new weights between items, never during one. Credentials come from
LATHE_NATS_USER/LATHE_NATS_PASSWORD, LATHE_NATS_TOKEN or LATHE_NATS_CREDS
(each secret also as *_FILE). SIGTERM or Ctrl-C stops it; the items it held
go to other workers at once.

--template KIND prints a deployment of workers instead (` + "`shell`, `kubernetes`, `nomad`, `slurm`" + `)
with --nats, --slots, --replicas and --image filled in.`

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("worker", workerUsage, stderr)
	url := fs.String("nats", os.Getenv("LATHE_NATS"), "NATS server URL(s), comma-separated (default $LATHE_NATS)")
	slots := fs.Int("slots", 1, "work items played at once, each with its own plugin processes")
	cache := fs.String("cache", "", "directory for fetched weights (default: the user cache directory's lathe/weights)")
	id := fs.String("id", "", "name of this worker in progress output (default host-pid-random)")
	verbose := fs.Bool("v", false, "log plugin output")
	tmpl := fs.String("template", "", "print a deployment of workers: "+strings.Join(deployKinds(), ", "))
	replicas := fs.Int("replicas", 2, "workers in a --template deployment")
	image := fs.String("image", "lathe:latest", "container image of a --template deployment (kubernetes, nomad)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *url == "" {
		fs.Usage()
		return errors.New("--nats URL is required (or set LATHE_NATS)")
	}
	if *slots < 1 {
		return fmt.Errorf("--slots must be at least 1, got %d", *slots)
	}
	if *tmpl != "" {
		return printTemplate(stdout, *tmpl, *url, *slots, *replicas, *image)
	}
	conn, err := cluster.Connect(ctx, *url, "lathe worker")
	if err != nil {
		return err
	}
	defer conn.Close()
	host := newStderrHost(stderr, *verbose)
	defer host.Close()
	w := &cluster.Worker{Conn: conn, Host: runner.PluginHost(host), Slots: *slots, ID: *id, CacheDir: *cache, Log: stderr}
	return w.Run(ctx)
}

func deployKinds() []string { return deploy.Kinds() }

// printTemplate writes a deployment of workers of the given kind.
func printTemplate(w io.Writer, kind, url string, slots, replicas int, image string) error {
	out, err := deploy.Render(kind, deploy.Params{NATS: url, Slots: slots, Replicas: replicas, Image: image})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, out)
	return err
}
