package rewrite

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/plugins/coedit"
	"github.com/lathe-ml/lathe/plugins/coedit/coedittest"
	"github.com/lathe-ml/lathe/sdk"
)

// scriptedModel answers every context with the next completion of its
// script and records the stop strings it was asked to sample with.
type scriptedModel struct {
	mu     sync.Mutex
	script []string
	stops  [][]string
	ctxs   []string
}

func (m *scriptedModel) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (m *scriptedModel) Configure(context.Context, sdk.Config) error { return nil }
func (m *scriptedModel) Info(context.Context) (sdk.ModelInfo, error) {
	return sdk.ModelInfo{Name: "scripted"}, nil
}

func (m *scriptedModel) Generate(_ context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out sdk.GenerateResponse
	for _, c := range req.Contexts {
		text := m.script[0]
		m.script = m.script[1:]
		m.stops = append(m.stops, req.Sampling.Stop)
		m.ctxs = append(m.ctxs, c)
		out.Completions = append(out.Completions, sdk.Completion{Text: text, StopReason: "stop"})
	}
	return out, nil
}

// TestRolloutSwap plays one episode of each tool through the rollout
// engine with nothing but the tool changed: each must be solved, and the
// model must be asked to stop where the tool's actions end.
func TestRolloutSwap(t *testing.T) {
	tests := []struct {
		name   string
		tool   *Tool
		script []string
		turns  int
	}{
		{"coedit", coedit.NewWithRunner(&coedittest.Runner{}),
			[]string{"REPW 2 >>>retrun a - b >>>return a + b\n", "EXIT\n"}, 2},
		{"rewrite", NewWithRunner(&coedittest.Runner{}),
			[]string{"def add(a, b):\n    return a + b\nEXIT\n"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if err := tt.tool.Configure(ctx, nil); err != nil {
				t.Fatal(err)
			}
			m := &scriptedModel{script: tt.script}
			e := &rollout.Engine{Tool: tt.tool, Model: m}
			trajs, err := e.Play(ctx, []sdk.Task{addTask}, rollout.Config{Group: 1})
			if err != nil {
				t.Fatal(err)
			}
			tr := trajs[0]
			if !tr.Solved() || len(tr.Turns) != tt.turns || !tr.Turns[len(tr.Turns)-1].Info.Exited {
				t.Fatalf("trajectory: solved=%v, %d turns, states:\n%s", tr.Solved(), len(tr.Turns), strings.Join(tr.States, "\n"))
			}
			want := tt.tool.Prompt(addTask)
			for i, stop := range m.stops {
				if strings.Join(stop, "|") != strings.Join(tr.Stop, "|") {
					t.Errorf("turn %d sampled with stop %q, the tool's is %q", i+1, stop, tr.Stop)
				}
				if !strings.HasPrefix(m.ctxs[i], want) {
					t.Errorf("turn %d context does not start with the tool's prompt:\n%s", i+1, m.ctxs[i])
				}
			}
			if tt.tool.Sessions() != 0 {
				t.Errorf("%d sessions left open after the rollout", tt.tool.Sessions())
			}
		})
	}
}
