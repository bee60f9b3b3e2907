package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lathe-ml/lathe/core/cluster/natsserver"
)

func init() {
	register(command{
		name:    "server",
		summary: "run a NATS server with JetStream for lathe workers",
		run:     runServer,
	})
}

const serverUsage = `server [--listen ADDR] [--store DIR] [--cluster ADDR --routes URLS]

Runs an embedded NATS server with JetStream, the queue that lathe run
--nats and lathe worker meet on, for those without a NATS deployment of
their own (any NATS 2.10+ server with JetStream serves as well). Alone it
is one server; for a cluster start three (or more) with --cluster, each
naming the others' route addresses in --routes:

  lathe server --listen 0.0.0.0:4222 --store /var/lib/lathe/a --cluster 0.0.0.0:6222 \
               --routes nats://b:6222,nats://c:6222

Clients must then present LATHE_NATS_USER/LATHE_NATS_PASSWORD or
LATHE_NATS_TOKEN when those are set (each also as *_FILE) in the server's
environment. Ctrl-C or SIGTERM stops it.`

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("server", serverUsage, stderr)
	listen := fs.String("listen", "127.0.0.1:4222", "client address HOST:PORT")
	store := fs.String("store", "lathe-nats", "JetStream store directory")
	clusterAddr := fs.String("cluster", "", "route address HOST:PORT of this server in a cluster")
	routes := fs.String("routes", "", "comma-separated route URLs of the other servers (nats://HOST:PORT)")
	clusterName := fs.String("cluster-name", "lathe", "name of the cluster")
	name := fs.String("name", "", "name of this server (default: its route address)")
	verbose := fs.Bool("v", false, "server log on stderr")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	opts := natsserver.Options{Name: *name, Listen: *listen, StoreDir: *store, Cluster: *clusterAddr,
		ClusterName: *clusterName, Log: *verbose}
	if *routes != "" {
		opts.Routes = strings.Split(*routes, ",")
	}
	var err error
	opts.User = os.Getenv("LATHE_NATS_USER")
	if opts.Password, err = secretEnv("LATHE_NATS_PASSWORD"); err != nil {
		return err
	}
	if opts.Token, err = secretEnv("LATHE_NATS_TOKEN"); err != nil {
		return err
	}
	if opts.Token != "" && opts.User != "" {
		return errors.New("set LATHE_NATS_TOKEN or LATHE_NATS_USER/LATHE_NATS_PASSWORD, not both")
	}
	s, err := natsserver.Start(opts)
	if err != nil {
		return err
	}
	auth := "no authentication"
	switch {
	case opts.Token != "":
		auth = "token from LATHE_NATS_TOKEN"
	case opts.User != "":
		auth = "user " + opts.User
	}
	fmt.Fprintf(stderr, "lathe server: NATS with JetStream on %s (store %s, %s)", s.URL(), *store, auth)
	if *clusterAddr != "" {
		fmt.Fprintf(stderr, ", cluster %q routes on %s", *clusterName, *clusterAddr)
	}
	fmt.Fprintln(stderr)
	fmt.Fprintf(stdout, "%s\n", s.URL())
	<-ctx.Done()
	s.Stop()
	return nil
}

// secretEnv reads $NAME, or the file $NAME_FILE names.
func secretEnv(name string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	f := os.Getenv(name + "_FILE")
	if f == "" {
		return "", nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
