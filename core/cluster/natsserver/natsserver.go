// Package natsserver runs an embedded NATS server with JetStream, alone or
// as one node of a cluster: what `lathe server` starts for users who have
// no NATS deployment of their own. It is a thin layer over
// github.com/nats-io/nats-server/v2 that picks the options Lathe needs
// (JetStream on, a store directory, routes, one user or a token) and
// waits until the server is ready; it knows nothing of work items.
package natsserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure one server.
type Options struct {
	// Name names the server in the cluster (default: its client address).
	Name string
	// Listen is the client address, HOST:PORT (default 127.0.0.1:4222;
	// port 0 picks a free one).
	Listen string
	// StoreDir is where JetStream keeps its streams (required).
	StoreDir string
	// Cluster, when set, is the route address HOST:PORT this server
	// listens on for the other servers; Routes are their route URLs
	// (nats://HOST:PORT), and ClusterName the cluster's name (default
	// "lathe"). A cluster with JetStream needs at least three servers to
	// survive losing one.
	Cluster     string
	Routes      []string
	ClusterName string
	// User and Password, or Token, are required of clients when set.
	User, Password string
	Token          string
	// Log, when true, lets the server log to stderr.
	Log bool
}

// Server is a running server.
type Server struct {
	*server.Server
}

// Start starts a server and waits up to 10 s for it to accept clients.
func Start(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("natsserver: a store directory is required (--store DIR)")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4222"
	}
	host, port, err := splitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("natsserver: listen address: %w", err)
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      !o.Log,
		Username:   o.User,
		Password:   o.Password,
		// The weights of a model travel as one object of the object
		// store, in chunks; 8 MiB messages leave room for work items with
		// long programs.
		MaxPayload: 8 << 20,
	}
	if o.Token != "" {
		opts.Authorization = o.Token
	}
	if (o.User == "") != (o.Password == "") {
		return nil, errors.New("natsserver: set both a user and a password, or neither")
	}
	if o.Cluster != "" {
		ch, cp, err := splitHostPort(o.Cluster)
		if err != nil {
			return nil, fmt.Errorf("natsserver: cluster address: %w", err)
		}
		name := o.ClusterName
		if name == "" {
			name = "lathe"
		}
		opts.Cluster = server.ClusterOpts{Name: name, Host: ch, Port: cp}
		if len(o.Routes) > 0 {
			opts.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
		}
		if opts.ServerName == "" {
			opts.ServerName = fmt.Sprintf("%s-%d", ch, cp)
		}
	} else if len(o.Routes) > 0 {
		return nil, errors.New("natsserver: routes need a cluster address of this server (--cluster HOST:PORT)")
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if o.Log {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("natsserver: not ready to accept clients on %s after 10 s", o.Listen)
	}
	return &Server{s}, nil
}

// URL returns the nats:// URL clients connect to.
func (s *Server) URL() string { return s.ClientURL() }

// Stop shuts the server down and waits until it has.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, n, nil
}

// FreePorts returns n TCP ports on 127.0.0.1 that were free a moment ago,
// for tests and local clusters whose servers must know each other's route
// ports before they start.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
