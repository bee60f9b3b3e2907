// Package rollout plays multi-turn episodes: for each task it starts G
// sessions of a tool, asks the model for one action per live session
// (batched Generate calls), applies the actions, scores each transition
// with the reward, and stops a session when the tool says the episode is
// done. Turns run in lockstep (every live session in one call, then the
// tool) or overlapped (the model writes one batch while the tool checks
// another); every trajectory samples from seeds of its own, so the two
// give the same episodes.
//
// It is used by GRPO (groups of G samples, rewards and log-probs kept for
// the update) and by evaluation (n samples, success per turn budget).
package rollout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/sdk"
)

// Engine holds the plugins an episode runs through.
type Engine struct {
	// Tool steps the sessions; one that implements sdk.ToolWithBatch steps
	// all live sessions in one call. (A plugin from core/pluginhost
	// implements it exactly when the plugin process does.)
	Tool  sdk.Tool
	Model sdk.Model
	// Reward may be nil (evaluation needs no reward); one that implements
	// sdk.RewardWithBatch scores a turn's transitions in one call.
	Reward sdk.Reward
	// Parallel bounds concurrent Step/Score calls when the plugin has no
	// batch form; default 8.
	Parallel int
	// GenerateBatch bounds the contexts in one Generate call; default 64.
	GenerateBatch int
	// Progress, when set, is told before each turn how many of the
	// episodes are still being played, for progress output.
	Progress func(turn, live, total int)
	// Phases, when set, accumulates the time Play spends in each phase.
	Phases *Phases
	// ShardTasks, when positive, makes Play cut its tasks into shards of
	// that many tasks, each played on its own with a seed derived from
	// the call's seed and the shard's index (Split): the results then no
	// longer depend on where or in which order shards run.
	ShardTasks int
	// Executor, when set, plays the shards instead of this engine's own
	// plugins (remote workers); Play then shards even with ShardTasks 0
	// (one task per shard), and Progress and Phases are left alone.
	Executor Executor
	// Overlap keeps the model generating while the tool checks actions:
	// the live episodes are played in two batches, one at the model while
	// the other is at the tool. The trajectories are the same as without
	// it (every trajectory samples from its own seeds); only the time
	// differs.
	Overlap bool
}

// Phases is where the time of Play calls went: the model generating, the
// tool resetting and stepping sessions (the sandbox), the reward scoring,
// and the wall time of the calls. Lockstep turns add up to nearly the
// wall time; overlapped ones (Engine.Overlap) add up to more, by the time
// the model and the tool were busy at once.
type Phases struct {
	Generate, Tool, Score, Wall time.Duration
}

func (p *Phases) add(q Phases) {
	p.Generate += q.Generate
	p.Tool += q.Tool
	p.Score += q.Score
	p.Wall += q.Wall
}

// Seconds returns the phases as metrics: generate_s, tool_s, score_s and
// rollout_s (the wall time).
func (p *Phases) Seconds() map[string]float64 {
	return map[string]float64{"generate_s": p.Generate.Seconds(), "tool_s": p.Tool.Seconds(), "score_s": p.Score.Seconds(), "rollout_s": p.Wall.Seconds()}
}

// Config controls one Play call.
type Config struct {
	// Group is the number of trajectories per task (G for GRPO, n for
	// pass@k); default 1.
	Group int
	// MaxTurns caps every episode on top of the tool's own limit; 0 leaves
	// the tool's limit alone.
	MaxTurns int
	History  episode.History
	// Sampling is passed to the model; its Stop is taken from the tool and
	// Seed is advanced per Generate call so every call draws new samples.
	Sampling sdk.Sampling
}

// Turn is one action and what followed.
type Turn struct {
	Context    string
	Completion sdk.Completion
	Info       sdk.StepInfo // after the action
	Done       bool
	Reward     float64
	Components map[string]float64
}

// Episode is the trajectory as Lathe stores episodes: the states and the
// model's actions (its completions as written), solved when the tests
// passed after some turn.
func (t *Trajectory) Episode() episode.Episode {
	e := episode.Episode{TaskID: t.TaskID, Prompt: t.Prompt, Stop: t.Stop, States: t.States, Solved: t.SolvedAt > 0}
	for _, tu := range t.Turns {
		e.Actions = append(e.Actions, tu.Completion.Text)
	}
	return e
}

// Trajectory is one episode played by a model.
type Trajectory struct {
	TaskID string
	// Sample is the index of this trajectory within its task's group.
	Sample int
	Prompt string
	Stop   []string
	// States holds the observation text after Reset and after each turn.
	States []string
	Turns  []Turn
	// Initial is the state's info after Reset (before any action).
	Initial sdk.StepInfo
	// SolvedAt is the 1-based turn after which the tests first passed, or
	// 0 if no action made them pass (never, or already before turn 1).
	SolvedAt int
	// Overflowed is true when the context no longer fit the model's
	// window, even with only the last state; the episode then ended.
	Overflowed bool
	// Truncated counts turns that fell back from full to last-state history
	// because the full history did not fit.
	Truncated int
}

// Return is the sum of the trajectory's rewards.
func (t *Trajectory) Return() float64 {
	var r float64
	for _, tu := range t.Turns {
		r += tu.Reward
	}
	return r
}

// SolvedWithin reports whether the program passed its tests in the state
// the episode was in after budget turns (or at its end, if shorter): what
// a run with max_turns = budget would have returned.
func (t *Trajectory) SolvedWithin(budget int) bool {
	if len(t.Turns) == 0 {
		return t.Initial.Solved
	}
	i := min(budget, len(t.Turns)) - 1
	if i < 0 {
		return t.Initial.Solved
	}
	return t.Turns[i].Info.Solved
}

// Solved reports whether the episode ended with the tests passing.
func (t *Trajectory) Solved() bool { return t.SolvedWithin(len(t.Turns)) }

// GeneratedTokens counts the tokens the model generated in the episode.
func (t *Trajectory) GeneratedTokens() int {
	n := 0
	for _, tu := range t.Turns {
		n += max(len(tu.Completion.Tokens), len(tu.Completion.Logprobs))
	}
	return n
}

// live is a trajectory still being played.
type live struct {
	traj *Trajectory
	// index is the trajectory's position in Play's output; with the turn
	// it seeds every sample the trajectory draws (sampleSeed).
	index   int
	session string
	actions []string
	info    sdk.StepInfo
	solved  bool // solved at some turn so far
}

// Play runs cfg.Group episodes per task and returns them grouped by task in
// input order: out[i*Group+j] is sample j of tasks[i].
func (e *Engine) Play(ctx context.Context, tasks []sdk.Task, cfg Config) ([]*Trajectory, error) {
	if e.ShardTasks > 0 || e.Executor != nil {
		return e.playSharded(ctx, tasks, cfg)
	}
	return e.play(ctx, tasks, cfg)
}

// play is Play with every task's episodes in one call: the model writes the
// next action of a batch of live episodes, the tool applies them and the
// reward scores them, until every episode is done. Each trajectory draws
// its samples from seeds of its own (sampleSeed), so which episodes share
// a Generate call does not change what any of them writes: lockstep turns
// and overlapped ones (Overlap) give the same trajectories.
func (e *Engine) play(ctx context.Context, tasks []sdk.Task, cfg Config) ([]*Trajectory, error) {
	group := max(cfg.Group, 1)
	lives := make([]*live, 0, len(tasks)*group)
	out := make([]*Trajectory, 0, len(tasks)*group)
	defer func() {
		// Sessions are closed on every path so a failed rollout does not
		// leak tool state.
		for _, l := range lives {
			if l.session != "" {
				_ = e.Tool.Close(context.WithoutCancel(ctx), l.session)
			}
		}
	}()

	var ph Phases
	began := time.Now()
	defer func() {
		if e.Phases != nil {
			ph.Wall = time.Since(began)
			e.Phases.add(ph)
		}
	}()
	for _, task := range tasks {
		for j := 0; j < group; j++ {
			resp, err := e.Tool.Reset(ctx, sdk.ResetRequest{Task: task})
			if err != nil {
				return nil, fmt.Errorf("rollout: reset task %s: %w", task.ID, err)
			}
			tr := &Trajectory{
				TaskID:  task.ID,
				Sample:  j,
				Prompt:  resp.Prompt,
				Stop:    resp.Stop,
				States:  []string{resp.Observation.Text},
				Initial: resp.Observation.Info,
			}
			// A program that passes before any action counts as solved
			// earlier, so no turn is rewarded for it.
			l := &live{traj: tr, index: len(out), session: resp.Session, info: resp.Observation.Info, solved: resp.Observation.Info.Solved}
			out = append(out, tr)
			lives = append(lives, l)
			if resp.Observation.Done {
				e.closeLive(ctx, l)
			}
		}
	}
	ph.Tool += time.Since(began)

	var ready []*live
	for _, l := range lives {
		if l.session != "" {
			ready = append(ready, l)
		}
	}
	var err error
	if e.Overlap {
		err = e.playOverlapped(ctx, ready, len(lives), cfg, &ph)
	} else {
		err = e.playLockstep(ctx, ready, len(lives), cfg, &ph)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// playLockstep plays turn after turn: every live episode's action in one
// batch, then the tool applies them all while the model waits.
func (e *Engine) playLockstep(ctx context.Context, ready []*live, total int, cfg Config, ph *Phases) error {
	for turn := 0; len(ready) > 0; turn++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Progress != nil {
			e.Progress(turn+1, len(ready), total)
		}
		t0 := time.Now()
		completions, contexts, err := e.generate(ctx, ready, cfg)
		ph.Generate += time.Since(t0)
		if err != nil {
			return err
		}
		if ready, err = e.apply(ctx, ready, completions, contexts, cfg, ph); err != nil {
			return err
		}
	}
	return nil
}

// playOverlapped keeps the model writing while the tool checks: while the
// tool applies one batch's actions (on its own goroutine), the model
// writes the next batch's. An episode whose action is being checked is out
// of the model's batches until its new state is back; when the tool holds
// nothing, the model takes half of the ready episodes, so there is always
// a second batch to write while the first is checked. The tool takes
// batches one at a time, in the order they were written.
func (e *Engine) playOverlapped(ctx context.Context, ready []*live, total int, cfg Config, ph *Phases) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		batch       []*live
		completions []sdk.Completion
		contexts    []string
	}
	type result struct {
		sent int // episodes the job held
		next []*live
		err  error
	}
	// At most two jobs are ever out (see below), so neither channel blocks
	// its sender.
	jobs := make(chan job, 2)
	results := make(chan result, 2)
	var toolPh Phases
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := range jobs {
			next, err := e.apply(ctx, j.batch, j.completions, j.contexts, cfg, &toolPh)
			if err != nil {
				cancel() // the model's call in progress is not worth finishing
			}
			results <- result{len(j.batch), next, err}
		}
	}()

	inflight, atTool := 0, 0 // jobs out, and the episodes they hold
	receive := func(r result) error {
		inflight--
		atTool -= r.sent
		if r.err != nil {
			return r.err
		}
		ready = append(ready, r.next...)
		return nil
	}
	err := func() error {
		for len(ready) > 0 || inflight > 0 {
			// Take in what the tool has finished, waiting only when there
			// is nothing to write.
			for collecting := true; collecting; {
				select {
				case r := <-results:
					if err := receive(r); err != nil {
						return err
					}
				default:
					collecting = false
				}
			}
			if len(ready) == 0 {
				if err := receive(<-results); err != nil {
					return err
				}
				continue
			}
			n := len(ready)
			if inflight == 0 && n > 1 {
				n = (n + 1) / 2
			}
			batch := ready[:n:n]
			ready = ready[n:]
			if e.Progress != nil {
				e.Progress(len(batch[0].actions)+1, len(batch)+len(ready)+atTool, total)
			}
			t0 := time.Now()
			completions, contexts, err := e.generate(ctx, batch, cfg)
			ph.Generate += time.Since(t0)
			if err != nil {
				// A tool failure cancels the call; report that, not the
				// cancellation.
				for inflight > 0 {
					if terr := receive(<-results); terr != nil {
						return terr
					}
				}
				return err
			}
			// A batch is taken whole only while the tool holds a job, and
			// split only while it holds none, so this is at most the
			// second job out.
			inflight++
			atTool += len(batch)
			jobs <- job{batch, completions, contexts}
		}
		return nil
	}()
	close(jobs)
	for inflight > 0 {
		_ = receive(<-results) // the first error is already err
	}
	wg.Wait()
	ph.Tool += toolPh.Tool
	ph.Score += toolPh.Score
	return err
}

// apply hands the tool the actions the model wrote for batch, records each
// turn, scores the transitions and closes the episodes that ended; it
// returns the episodes that go on.
func (e *Engine) apply(ctx context.Context, batch []*live, completions []sdk.Completion, contexts []string, cfg Config, ph *Phases) ([]*live, error) {
	// An overflowed context ends its episode without an action.
	var stepping []*live
	var picked []int
	var reqs []sdk.StepRequest
	for i, l := range batch {
		if completions[i].StopReason == "context" {
			l.traj.Overflowed = true
			e.closeLive(ctx, l)
			continue
		}
		stepping = append(stepping, l)
		picked = append(picked, i)
		reqs = append(reqs, sdk.StepRequest{Session: l.session, Action: completions[i].Text})
	}
	t0 := time.Now()
	resps, err := e.step(ctx, reqs)
	ph.Tool += time.Since(t0)
	if err != nil {
		return nil, err
	}

	transitions := make([]sdk.Transition, len(stepping))
	for i, l := range stepping {
		obs := resps[i].Observation
		idx := picked[i]
		turn := len(l.actions)
		done := obs.Done || (cfg.MaxTurns > 0 && turn+1 >= cfg.MaxTurns)
		transitions[i] = sdk.Transition{
			TaskID:        l.traj.TaskID,
			Action:        completions[idx].Text,
			Before:        l.info,
			After:         obs.Info,
			Turn:          turn,
			Done:          done,
			SolvedEarlier: l.solved,
		}
		l.traj.Turns = append(l.traj.Turns, Turn{
			Context:    contexts[idx],
			Completion: completions[idx],
			Info:       obs.Info,
			Done:       done,
		})
		l.traj.States = append(l.traj.States, obs.Text)
		l.actions = append(l.actions, completions[idx].Text)
		l.info = obs.Info
		if obs.Info.Solved {
			if !l.solved {
				l.traj.SolvedAt = turn + 1
			}
			l.solved = true
		}
	}
	if e.Reward != nil && len(transitions) > 0 {
		t0 := time.Now()
		scores, err := e.score(ctx, transitions)
		ph.Score += time.Since(t0)
		if err != nil {
			return nil, err
		}
		for i, l := range stepping {
			t := &l.traj.Turns[len(l.traj.Turns)-1]
			t.Reward, t.Components = scores[i].Reward, scores[i].Components
		}
	}
	var next []*live
	for i, l := range stepping {
		if transitions[i].Done {
			e.closeLive(ctx, l)
		} else {
			next = append(next, l)
		}
	}
	return next, nil
}

func (e *Engine) closeLive(ctx context.Context, l *live) {
	_ = e.Tool.Close(context.WithoutCancel(ctx), l.session)
	l.session = ""
}

// generate asks the model for the next action of every active trajectory.
// A trajectory whose full history does not fit falls back to the last
// state only (counted in Truncated); if even that does not fit, its
// completion comes back with StopReason "context".
func (e *Engine) generate(ctx context.Context, active []*live, cfg Config) ([]sdk.Completion, []string, error) {
	history := cfg.History
	if history == "" {
		history = episode.Full
	}
	contexts := make([]string, len(active))
	msgs := make([][]sdk.Message, len(active))
	seeds := make([]int64, len(active))
	for i, l := range active {
		c, m, err := render(l, history)
		if err != nil {
			return nil, nil, err
		}
		contexts[i], msgs[i] = c, m
		seeds[i] = sampleSeed(cfg.Sampling.Seed, l.index, len(l.actions), false)
	}
	completions, err := e.generateChunked(ctx, contexts, msgs, stopsOf(active), seeds, cfg.Sampling)
	if err != nil {
		return nil, nil, err
	}
	if history == episode.Last {
		return completions, contexts, nil
	}
	var retry []int
	for i, c := range completions {
		if c.StopReason == "context" && len(active[i].actions) > 0 {
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		return completions, contexts, nil
	}
	short := make([]string, len(retry))
	shortMsgs := make([][]sdk.Message, len(retry))
	stops := make([][]string, len(retry))
	shortSeeds := make([]int64, len(retry))
	for j, i := range retry {
		l := active[i]
		c, m, err := render(l, episode.Last)
		if err != nil {
			return nil, nil, err
		}
		short[j], shortMsgs[j], stops[j] = c, m, l.traj.Stop
		shortSeeds[j] = sampleSeed(cfg.Sampling.Seed, l.index, len(l.actions), true)
		l.traj.Truncated++
	}
	again, err := e.generateChunked(ctx, short, shortMsgs, stops, shortSeeds, cfg.Sampling)
	if err != nil {
		return nil, nil, err
	}
	for j, i := range retry {
		completions[i], contexts[i] = again[j], short[j]
	}
	return completions, contexts, nil
}

// sampleSeed is the seed of what trajectory traj samples at turn (its
// retry with the last state only, when the full history did not fit,
// has its own): a splitmix64 mix of the three, so it depends on nothing
// else, not on which trajectories share the Generate call.
func sampleSeed(seed int64, traj, turn int, retry bool) int64 {
	k := uint64(traj)<<24 | uint64(turn)<<1
	if retry {
		k |= 1
	}
	return ShardSeed(seed, int(k))
}

// render builds a trajectory's next context, as text and as chat turns.
func render(l *live, h episode.History) (string, []sdk.Message, error) {
	c, err := episode.Context(l.traj.Prompt, l.traj.States, l.actions, l.traj.Stop, h)
	if err != nil {
		return "", nil, err
	}
	m, err := episode.Messages(l.traj.Prompt, l.traj.States, l.actions, l.traj.Stop, h)
	return c, m, err
}

func stopsOf(ls []*live) [][]string {
	out := make([][]string, len(ls))
	for i, l := range ls {
		out[i] = l.traj.Stop
	}
	return out
}

// generateChunked calls Generate once per run of contexts that share stop
// strings, at most GenerateBatch at a time; context i samples from
// seeds[i] (sdk.Sampling.Seeds; a model that ignores them gets Seed plus
// the context's place in the call, as before there were per-context seeds).
func (e *Engine) generateChunked(ctx context.Context, contexts []string, msgs [][]sdk.Message, stops [][]string, seeds []int64, s sdk.Sampling) ([]sdk.Completion, error) {
	batch := e.GenerateBatch
	if batch <= 0 {
		batch = 64
	}
	out := make([]sdk.Completion, 0, len(contexts))
	for start := 0; start < len(contexts); {
		end := start + 1
		for end < len(contexts) && end-start < batch && sameStops(stops[end], stops[start]) {
			end++
		}
		req := s
		req.Stop = stops[start]
		req.Seed = seeds[start]
		req.Seeds = seeds[start:end]
		resp, err := e.Model.Generate(ctx, sdk.GenerateRequest{Contexts: contexts[start:end], Messages: msgs[start:end], Sampling: req})
		if err != nil {
			return nil, fmt.Errorf("rollout: generate: %w", err)
		}
		if len(resp.Completions) != end-start {
			return nil, fmt.Errorf("rollout: model returned %d completions for %d contexts", len(resp.Completions), end-start)
		}
		out = append(out, resp.Completions...)
		start = end
	}
	return out, nil
}

func sameStops(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func (e *Engine) step(ctx context.Context, reqs []sdk.StepRequest) ([]sdk.StepResponse, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if tb, ok := e.Tool.(sdk.ToolWithBatch); ok {
		resps, err := tb.StepBatch(ctx, reqs)
		if err != nil {
			return nil, fmt.Errorf("rollout: step: %w", err)
		}
		if len(resps) != len(reqs) {
			return nil, fmt.Errorf("rollout: tool returned %d states for %d actions", len(resps), len(reqs))
		}
		return resps, nil
	}
	resps := make([]sdk.StepResponse, len(reqs))
	err := e.parallel(len(reqs), func(i int) error {
		r, err := e.Tool.Step(ctx, reqs[i])
		resps[i] = r
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rollout: step: %w", err)
	}
	return resps, nil
}

func (e *Engine) score(ctx context.Context, ts []sdk.Transition) ([]sdk.Score, error) {
	if rb, ok := e.Reward.(sdk.RewardWithBatch); ok {
		scores, err := rb.ScoreBatch(ctx, ts)
		if err != nil {
			return nil, fmt.Errorf("rollout: score: %w", err)
		}
		if len(scores) != len(ts) {
			return nil, fmt.Errorf("rollout: reward returned %d scores for %d transitions", len(scores), len(ts))
		}
		return scores, nil
	}
	scores := make([]sdk.Score, len(ts))
	err := e.parallel(len(ts), func(i int) error {
		s, err := e.Reward.Score(ctx, ts[i])
		scores[i] = s
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rollout: score: %w", err)
	}
	return scores, nil
}

// parallel runs fn(0..n-1) with at most e.Parallel at once and returns the
// first error.
func (e *Engine) parallel(n int, fn func(i int) error) error {
	limit := e.Parallel
	if limit <= 0 {
		limit = 8
	}
	sem := make(chan struct{}, limit)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
