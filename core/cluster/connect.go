package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Credentials are the NATS credentials the environment holds.
type Credentials struct {
	User, Password string
	Token          string
	CredsFile      string
}

// CredentialsFromEnv reads LATHE_NATS_USER, LATHE_NATS_PASSWORD (or the
// file LATHE_NATS_PASSWORD_FILE names), LATHE_NATS_TOKEN (or
// LATHE_NATS_TOKEN_FILE) and LATHE_NATS_CREDS through getenv (os.Getenv
// when nil).
func CredentialsFromEnv(getenv func(string) string) (Credentials, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	secret := func(name string) (string, error) {
		if v := getenv(name); v != "" {
			return v, nil
		}
		if f := getenv(name + "_FILE"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("cluster: %s_FILE: %w", name, err)
			}
			return strings.TrimSpace(string(b)), nil
		}
		return "", nil
	}
	var c Credentials
	var err error
	c.User = getenv("LATHE_NATS_USER")
	if c.Password, err = secret("LATHE_NATS_PASSWORD"); err != nil {
		return c, err
	}
	if c.Token, err = secret("LATHE_NATS_TOKEN"); err != nil {
		return c, err
	}
	c.CredsFile = getenv("LATHE_NATS_CREDS")
	if c.User != "" && c.Password == "" {
		return c, errors.New("cluster: LATHE_NATS_USER is set but LATHE_NATS_PASSWORD (or LATHE_NATS_PASSWORD_FILE) is not")
	}
	if c.CredsFile != "" {
		if _, err := os.Stat(c.CredsFile); err != nil {
			return c, fmt.Errorf("cluster: LATHE_NATS_CREDS: %w", err)
		}
	}
	return c, nil
}

func (c Credentials) options() []nats.Option {
	var o []nats.Option
	if c.User != "" {
		o = append(o, nats.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		o = append(o, nats.Token(c.Token))
	}
	if c.CredsFile != "" {
		o = append(o, nats.UserCredentials(c.CredsFile))
	}
	return o
}

// Conn is a connection to a NATS server with JetStream and the streams,
// consumer and buckets of the package ready.
type Conn struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	URL string

	work    jetstream.Stream
	results jetstream.Stream
	weights jetstream.ObjectStore
	workers jetstream.KeyValue
}

// Connect dials url (one or more nats:// URLs separated by commas) with
// the environment's credentials, names the connection, and makes sure the
// streams and buckets exist, creating them with up to three replicas on a
// cluster. It retries while a fresh cluster elects its leaders, until ctx
// ends or a minute has passed.
func Connect(ctx context.Context, url, name string) (*Conn, error) {
	creds, err := CredentialsFromEnv(nil)
	if err != nil {
		return nil, err
	}
	opts := append(creds.options(), nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: %s: %w", url, err)
	}
	c := &Conn{NC: nc, JS: js, URL: url}
	deadline := time.Now().Add(time.Minute)
	for {
		err = c.setup(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			nc.Close()
			return nil, fmt.Errorf("cluster: %s: %w", url, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Close drains nothing and closes the connection.
func (c *Conn) Close() { c.NC.Close() }

// replicas is how many copies the assets keep: one on a single server,
// up to three on a cluster (LATHE_NATS_REPLICAS overrides).
func (c *Conn) replicas() int {
	if v, err := strconv.Atoi(os.Getenv("LATHE_NATS_REPLICAS")); err == nil && v > 0 {
		return v
	}
	if c.NC.ConnectedClusterName() == "" {
		return 1
	}
	return min(3, max(1, len(c.NC.Servers())))
}

func (c *Conn) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r := c.replicas()
	var err error
	if c.work, err = ensureStream(ctx, c.JS, jetstream.StreamConfig{
		Name: WorkStream, Subjects: []string{workPrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Replicas: r, MaxAge: 24 * time.Hour,
	}); err != nil {
		return err
	}
	if c.results, err = ensureStream(ctx, c.JS, jetstream.StreamConfig{
		Name: ResultStream, Subjects: []string{resultPrefix + ">"}, Retention: jetstream.LimitsPolicy,
		Storage: jetstream.FileStorage, Replicas: r, MaxAge: 24 * time.Hour, Duplicates: 10 * time.Minute,
	}); err != nil {
		return err
	}
	if c.weights, err = c.JS.ObjectStore(ctx, WeightsBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
		c.weights, err = c.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: WeightsBucket, Replicas: r,
			Storage: jetstream.FileStorage, TTL: 7 * 24 * time.Hour})
	}
	if err != nil {
		return fmt.Errorf("object store %s: %w", WeightsBucket, err)
	}
	if c.workers, err = c.JS.KeyValue(ctx, WorkersBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
		c.workers, err = c.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: WorkersBucket, Replicas: r,
			Storage: jetstream.MemoryStorage, TTL: time.Minute})
	}
	if err != nil {
		return fmt.Errorf("key-value bucket %s: %w", WorkersBucket, err)
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// workConsumer returns the consumer workers pull from, creating it with
// ackWait when missing; update (the run does) sets its AckWait to ackWait.
func (c *Conn) workConsumer(ctx context.Context, ackWait time.Duration, update bool) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable: WorkerConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
		MaxDeliver: 50, FilterSubject: workPrefix + ">", MaxAckPending: -1,
	}
	if !update {
		if cons, err := c.JS.Consumer(ctx, WorkStream, WorkerConsumer); err == nil {
			return cons, nil
		}
	}
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, WorkStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: consumer %s: %w", WorkerConsumer, err)
	}
	return cons, nil
}

// Workers lists the workers whose heartbeat is fresh.
func (c *Conn) Workers(ctx context.Context) ([]WorkerStatus, error) {
	keys, err := c.workers.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: list workers: %w", err)
	}
	var out []WorkerStatus
	for k := range keys.Keys() {
		e, err := c.workers.Get(ctx, k)
		if err != nil {
			continue // expired or deleted meanwhile
		}
		var s WorkerStatus
		if decode(e.Value(), &s) != nil {
			continue
		}
		if time.Since(s.Updated) < 3*heartbeat+time.Second {
			out = append(out, s)
		}
	}
	return out, nil
}
