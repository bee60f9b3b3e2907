package stages

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/sdk"
)

// demoRecord is one line of the synthesize stage's data file (the format
// of `lathe data synth`).
type demoRecord struct {
	TaskID      string   `json:"task_id"`
	Program     string   `json:"program"`
	Tests       string   `json:"tests"`
	Setup       string   `json:"setup,omitempty"`
	Actions     []string `json:"actions"`
	Split       string   `json:"split,omitempty"`
	Corruptions []string `json:"corruptions,omitempty"`
}

// Replay plays a demonstration through the tool and returns the episode
// the model will be trained on: the tool's prompt and every state it
// showed. Solved says whether the tests passed when the trace ended.
func Replay(ctx context.Context, tool sdk.Tool, task sdk.Task, d sdk.Demonstration) (Episode, error) {
	task.Program = d.Program
	r, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		return Episode{}, fmt.Errorf("stages: replay %s: %w", task.ID, err)
	}
	defer tool.Close(context.WithoutCancel(ctx), r.Session)
	ep := Episode{TaskID: task.ID, Split: task.Split, Prompt: r.Prompt, Stop: r.Stop,
		States: []string{r.Observation.Text}, Corruptions: d.Corruptions}
	info := r.Observation.Info
	for i, a := range d.Actions {
		s, err := tool.Step(ctx, sdk.StepRequest{Session: r.Session, Action: a})
		if err != nil {
			return Episode{}, fmt.Errorf("stages: replay %s action %d: %w", task.ID, i+1, err)
		}
		ep.Actions = append(ep.Actions, a)
		ep.States = append(ep.States, s.Observation.Text)
		info = s.Observation.Info
		if s.Observation.Done && i < len(d.Actions)-1 {
			// The trace is longer than the tool's turn limit: the episode
			// ends unrepaired, as it would for the model.
			break
		}
	}
	ep.Solved = info.Solved
	return ep, nil
}

// synthesize asks the tool for demonstrations of every task of the split,
// replays each through the tool, and writes the demonstrations (data) and
// the replayed episodes (episodes). Only traces that end with the tests
// passing become training episodes; the others are counted and logged.
func synthesize(ctx context.Context, env *runner.StageEnv) (runner.Outputs, error) {
	ts, err := loadTasks(ctx, env, env.String("split"))
	if err != nil {
		return nil, err
	}
	tool, err := env.Tool(ctx, "tool")
	if err != nil {
		return nil, err
	}
	demonstrator, ok := tool.(sdk.ToolWithDemonstrate)
	if !ok {
		return nil, fmt.Errorf("%s: the tool does not write demonstrations", env.Stage.ID())
	}
	perTask := env.Int("per_task")
	bar := newProgress(env, len(ts), "synthesize", nil)

	type result struct {
		demos []sdk.Demonstration
		eps   []Episode
		err   error
	}
	results := make([]result, len(ts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // enough to keep a sandbox pool busy through RPC latency
	var mu sync.Mutex
	done := 0
	for i, t := range ts {
		wg.Add(1)
		go func(i int, t sdk.Task) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := &results[i]
			r.demos, r.err = demonstrator.Demonstrate(ctx, sdk.DemonstrateRequest{Task: t, Seed: env.Seed, N: perTask})
			for _, d := range r.demos {
				if r.err != nil {
					break
				}
				var ep Episode
				ep, r.err = Replay(ctx, tool, t, d)
				r.eps = append(r.eps, ep)
			}
			mu.Lock()
			done++
			bar.step(done, len(ts), nil)
			mu.Unlock()
		}(i, t)
	}
	wg.Wait()

	dataPath := filepath.Join(env.Dir, "demos.jsonl")
	epsPath := filepath.Join(env.Dir, "episodes.jsonl")
	dataFile, err := newJSONL(dataPath)
	if err != nil {
		return nil, err
	}
	defer dataFile.close()
	epsFile, err := newJSONL(epsPath)
	if err != nil {
		return nil, err
	}
	defer epsFile.close()
	demos, kept, unsolved := 0, 0, 0
	for i, r := range results {
		if r.err != nil {
			return nil, fmt.Errorf("%s: task %s: %w", env.Stage.ID(), ts[i].ID, r.err)
		}
		for j, d := range r.demos {
			demos++
			if err := dataFile.write(demoRecord{TaskID: d.TaskID, Program: d.Program, Tests: ts[i].Tests,
				Setup: ts[i].Setup, Actions: d.Actions, Split: ts[i].Split, Corruptions: d.Corruptions}); err != nil {
				return nil, err
			}
			if !r.eps[j].Solved {
				unsolved++
				env.Logger.Warn("demonstration does not repair its program; left out of training", "task", d.TaskID)
				continue
			}
			kept++
			if err := epsFile.write(r.eps[j]); err != nil {
				return nil, err
			}
		}
	}
	if err := dataFile.close(); err != nil {
		return nil, err
	}
	if err := epsFile.close(); err != nil {
		return nil, err
	}
	env.Logger.Info("synthesized", "stage", env.Stage.Label, "tasks", len(ts), "demonstrations", demos,
		"episodes", kept, "unsolved", unsolved)
	if err := env.Metrics.Log(env.Stage.Label, 0, map[string]float64{"tasks": float64(len(ts)),
		"demonstrations": float64(demos), "episodes": float64(kept), "unsolved": float64(unsolved)}); err != nil {
		return nil, err
	}
	if kept == 0 {
		return nil, fmt.Errorf("%s: no demonstration repaired its program", env.Stage.ID())
	}
	return runner.Outputs{outData: dataPath, outEpisodes: epsPath}, nil
}

// jsonlFile writes one JSON value per line through a buffer.
type jsonlFile struct {
	f      *os.File
	w      *bufio.Writer
	closed bool
}

func newJSONL(path string) (*jsonlFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("stages: %w", err)
	}
	return &jsonlFile{f: f, w: bufio.NewWriter(f)}, nil
}

func (j *jsonlFile) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = j.w.Write(b)
	return err
}

func (j *jsonlFile) close() error {
	if j.closed {
		return nil
	}
	j.closed = true
	if err := j.w.Flush(); err != nil {
		j.f.Close()
		return err
	}
	return j.f.Close()
}
