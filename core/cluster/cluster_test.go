package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lathe-ml/lathe/core/cluster/natsserver"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/sdk"
)

// The fakes: a counter tool ("INC" adds one, solved at the target), a
// model whose answers depend on its weights (one number, saved to a file)
// and the request's seed, and a reward of +1 on solving.

type counter struct {
	mu       sync.Mutex
	next     int
	sessions map[string]*[2]int // value, target
}

func (c *counter) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (c *counter) Configure(context.Context, sdk.Config) error { return nil }
func (c *counter) Reset(_ context.Context, req sdk.ResetRequest) (sdk.ResetResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, _ := strconv.Atoi(req.Task.Program)
	t, _ := strconv.Atoi(req.Task.Tests)
	c.next++
	id := fmt.Sprint(c.next)
	if c.sessions == nil {
		c.sessions = map[string]*[2]int{}
	}
	c.sessions[id] = &[2]int{v, t}
	return sdk.ResetResponse{Session: id, Prompt: "count", Stop: []string{"\n"},
		Observation: sdk.Observation{Text: fmt.Sprint("value ", v), Info: sdk.StepInfo{Solved: v == t, Valid: true, Total: 1}}}, nil
}
func (c *counter) Step(_ context.Context, req sdk.StepRequest) (sdk.StepResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[req.Session]
	valid := strings.TrimSpace(req.Action) == "INC"
	if valid {
		s[0]++
	}
	info := sdk.StepInfo{Solved: s[0] == s[1], Valid: valid, Total: 1}
	return sdk.StepResponse{Observation: sdk.Observation{Text: fmt.Sprint("value ", s[0]), Info: info, Done: info.Solved}}, nil
}
func (c *counter) Close(_ context.Context, session string) error {
	c.mu.Lock()
	delete(c.sessions, session)
	c.mu.Unlock()
	return nil
}

type weighted struct {
	mu sync.Mutex
	w  int
}

func (m *weighted) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (m *weighted) Configure(context.Context, sdk.Config) error { return nil }
func (m *weighted) Info(context.Context) (sdk.ModelInfo, error) { return sdk.ModelInfo{}, nil }
func (m *weighted) Generate(ctx context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	m.mu.Lock()
	w := m.w
	m.mu.Unlock()
	var out sdk.GenerateResponse
	for i := range req.Contexts {
		// Each context's own seed, as the transformer samples, so episodes
		// do not depend on which others share the call.
		seed := req.Sampling.Seed + int64(i)
		if len(req.Sampling.Seeds) == len(req.Contexts) {
			seed = req.Sampling.Seeds[i]
		}
		a := "INC"
		if (uint64(seed)+uint64(w))%4 == 0 {
			a = "junk"
		}
		out.Completions = append(out.Completions, sdk.Completion{Text: a + "\n", Tokens: []int32{int32(w)},
			Logprobs: []float64{-float64(w) / 7}, StopReason: "stop"})
	}
	time.Sleep(5 * time.Millisecond) // long enough that a kill lands mid-item
	return out, nil
}
func (m *weighted) Save(_ context.Context, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return os.WriteFile(filepath.Join(dir, "w"), []byte(fmt.Sprint(m.w)), 0o644)
}
func (m *weighted) Load(_ context.Context, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "w"))
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w, err = strconv.Atoi(string(b))
	return err
}

type solvedReward struct{}

func (solvedReward) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (solvedReward) Configure(context.Context, sdk.Config) error { return nil }
func (solvedReward) Score(_ context.Context, t sdk.Transition) (sdk.Score, error) {
	if t.After.Solved && !t.SolvedEarlier {
		return sdk.Score{Reward: 1}, nil
	}
	return sdk.Score{}, nil
}

type fakeInstance struct {
	tool   sdk.Tool
	reward sdk.Reward
	model  sdk.Model
}

func (f *fakeInstance) Tool() sdk.Tool     { return f.tool }
func (f *fakeInstance) Reward() sdk.Reward { return f.reward }
func (f *fakeInstance) Model() sdk.Model   { return f.model }
func (f *fakeInstance) Capabilities() []string {
	if f.model != nil {
		return []string{"ModelWithCheckpoints"}
	}
	return nil
}
func (f *fakeInstance) Kill() {}
func (f *fakeInstance) ConfigValidator() (sdk.ConfigValidator, bool) {
	return nil, false
}

type fakeHost struct{}

func (fakeHost) Schema(context.Context, sdk.Kind, string) (sdk.Schema, error) {
	return sdk.Schema{}, nil
}
func (fakeHost) Start(_ context.Context, kind sdk.Kind, _, plugin string) (runner.Instance, error) {
	switch kind {
	case sdk.KindTool:
		return &fakeInstance{tool: &counter{}}, nil
	case sdk.KindReward:
		return &fakeInstance{reward: solvedReward{}}, nil
	case sdk.KindModel:
		return &fakeInstance{model: &weighted{}}, nil
	}
	return nil, fmt.Errorf("no %s plugin %q", kind, plugin)
}
func (fakeHost) Close() {}

func testTasks(n int) []sdk.Task {
	var ts []sdk.Task
	for i := range n {
		ts = append(ts, sdk.Task{ID: fmt.Sprint("t", i), Program: fmt.Sprint(i), Tests: fmt.Sprint(i + 1 + i%3)})
	}
	return ts
}

// roundTrip passes trajectories through the wire encoding, which keeps
// every value but not the difference between nil and empty slices.
func roundTrip(t *testing.T, trajs []*rollout.Trajectory) []*rollout.Trajectory {
	b, err := encode(trajs)
	if err != nil {
		t.Fatal(err)
	}
	var out []*rollout.Trajectory
	if err := decode(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func startServer(t *testing.T) *natsserver.Server {
	t.Helper()
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func connect(t *testing.T, url string) *Conn {
	t.Helper()
	c, err := Connect(context.Background(), url, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startWorkers runs n in-process workers until the test ends.
func startWorkers(t *testing.T, url string, n int, tweak func(*Worker)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		w := &Worker{Conn: connect(t, url), Host: fakeHost{}, Slots: 2, ID: fmt.Sprint("w", i), CacheDir: t.TempDir()}
		if tweak != nil {
			tweak(w)
		}
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestExecutorEqualsLocal(t *testing.T) {
	srv := startServer(t)
	startWorkers(t, srv.URL(), 2, nil)
	model := &weighted{w: 3}
	tasks := testTasks(9)
	cfg := rollout.Config{Group: 3, MaxTurns: 5, Sampling: sdk.Sampling{Seed: 11}}
	local := &rollout.Engine{Tool: &counter{}, Model: model, Reward: solvedReward{}, ShardTasks: 2}
	for _, tc := range []struct {
		name    string
		weights int
		reward  bool
	}{{"eval", 3, false}, {"rollout with reward", 3, true}, {"new weights", 5, true}} {
		t.Run(tc.name, func(t *testing.T) {
			model.w = tc.weights
			local.Reward = nil
			ex := &Executor{Conn: connect(t, srv.URL()), Stage: "test", Tool: PluginSpec{Plugin: "counter"},
				Model: PluginSpec{Plugin: "weighted"}, Weights: model, AckWait: 2 * time.Second, NoWorker: 10 * time.Second}
			if tc.reward {
				local.Reward = solvedReward{}
				ex.Reward = PluginSpec{Plugin: "solved"}
			}
			want, err := local.Play(context.Background(), tasks, cfg)
			if err != nil {
				t.Fatal(err)
			}
			remote := &rollout.Engine{Executor: ex, ShardTasks: 2}
			got, err := remote.Play(context.Background(), tasks, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, roundTrip(t, want)) {
				t.Fatalf("remote trajectories differ from local ones")
			}
			st := ex.Last()
			if st.Items != 5 || st.Duplicates != 0 {
				t.Errorf("stats %+v, want 5 items and no duplicates", st)
			}
			eps := 0
			for _, n := range st.PerWorker {
				eps += n
			}
			if eps != len(tasks)*3 {
				t.Errorf("workers returned %d episodes, want %d", eps, len(tasks)*3)
			}
		})
	}
}

func TestRedeliveryAndDuplicates(t *testing.T) {
	srv := startServer(t)
	c := connect(t, srv.URL())
	ctx := context.Background()
	// Set the consumer's AckWait before anyone takes work.
	if _, err := c.workConsumer(ctx, time.Second, true); err != nil {
		t.Fatal(err)
	}
	// A worker that takes one item and dies with it (no ack, no progress).
	cons, err := c.JS.Consumer(ctx, WorkStream, WorkerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	stolen := make(chan string, 1)
	go func() {
		msg, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
		if err == nil {
			var it Item
			_ = decode(msg.Data(), &it)
			stolen <- it.ID
		}
	}()
	time.Sleep(200 * time.Millisecond) // the thief asks first
	startWorkers(t, srv.URL(), 1, func(w *Worker) { w.publishTwice = true })
	model := &weighted{w: 2}
	tasks := testTasks(4)
	cfg := rollout.Config{Group: 2, MaxTurns: 4, Sampling: sdk.Sampling{Seed: 5}}
	want, err := (&rollout.Engine{Tool: &counter{}, Model: model, ShardTasks: 1}).Play(ctx, tasks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ex := &Executor{Conn: c, Stage: "redeliver", Tool: PluginSpec{Plugin: "counter"}, Model: PluginSpec{Plugin: "weighted"},
		Weights: model, AckWait: time.Second, NoWorker: 10 * time.Second}
	got, err := (&rollout.Engine{Executor: ex, ShardTasks: 1}).Play(ctx, tasks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-stolen:
		t.Logf("item %s was taken by a worker that died, and played again", id)
	default:
		t.Fatal("the dead worker took no item")
	}
	if !reflect.DeepEqual(got, roundTrip(t, want)) {
		t.Fatal("results differ from the local ones after a redelivery")
	}
	if st := ex.Last(); st.Duplicates == 0 {
		t.Errorf("every result was published twice, but no duplicate was counted: %+v", st)
	}
}

func TestNoWorker(t *testing.T) {
	srv := startServer(t)
	ex := &Executor{Conn: connect(t, srv.URL()), Stage: "lonely", Tool: PluginSpec{Plugin: "counter"},
		Model: PluginSpec{Plugin: "weighted"}, NoWorker: 2 * time.Second}
	t0 := time.Now()
	_, err := (&rollout.Engine{Executor: ex}).Play(context.Background(), testTasks(2), rollout.Config{})
	if !errors.Is(err, ErrNoWorker) || !strings.Contains(err.Error(), "lathe worker --nats") {
		t.Fatalf("error %v, want one saying no worker is live and how to start one", err)
	}
	if el := time.Since(t0); el > 6*time.Second {
		t.Errorf("gave up after %s, want about 2 s", el)
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want Credentials
		err  string
	}{
		{"none", nil, Credentials{}, ""},
		{"user and password", map[string]string{"LATHE_NATS_USER": "u", "LATHE_NATS_PASSWORD": "p"}, Credentials{User: "u", Password: "p"}, ""},
		{"password file", map[string]string{"LATHE_NATS_USER": "u", "LATHE_NATS_PASSWORD_FILE": pw}, Credentials{User: "u", Password: "s3cret"}, ""},
		{"token", map[string]string{"LATHE_NATS_TOKEN": "tok"}, Credentials{Token: "tok"}, ""},
		{"user without password", map[string]string{"LATHE_NATS_USER": "u"}, Credentials{}, "LATHE_NATS_PASSWORD"},
		{"missing creds file", map[string]string{"LATHE_NATS_CREDS": filepath.Join(dir, "nope.creds")}, Credentials{}, "LATHE_NATS_CREDS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CredentialsFromEnv(func(k string) string { return tt.env[k] })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestAuthenticatedServer(t *testing.T) {
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.Setenv("LATHE_NATS_TOKEN", "wrong")
	if _, err := Connect(ctx, s.URL(), "bad"); err == nil {
		t.Fatal("connected with a wrong token")
	}
	t.Setenv("LATHE_NATS_TOKEN", "tok")
	c, err := Connect(ctx, s.URL(), "good")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
