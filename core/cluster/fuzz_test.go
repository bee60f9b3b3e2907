package cluster

import (
	"testing"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// FuzzDecode: any message on the work or result subjects (anyone with the
// NATS credentials can publish one) decodes into an Item or a Result, or
// fails with an error; a Result that passes check has episodes every later
// stage can read. Never a panic. The first byte picks the type.
func FuzzDecode(f *testing.F) {
	res := Result{ID: "j.0", Job: "j", Worker: "w1", Trajectories: []*rollout.Trajectory{{
		TaskID: "basic/001", Prompt: "p", States: []string{"s0", "s1"}, SolvedAt: 1,
		Turns: []rollout.Turn{{Context: "c", Completion: sdk.Completion{Text: "EXIT", Tokens: []int32{1}, Logprobs: []float64{-0.5}}, Reward: 1}},
	}}}
	item := Item{ID: "j.0", Job: "j", Stage: "rl", Shard: rollout.Shard{Tasks: []sdk.Task{{ID: "basic/001", Program: "x = 1"}}},
		Tool: PluginSpec{Label: "editor", Plugin: "coedit", Config: sdk.Config(`{"max_turns":3}`)}, Weights: "abc"}
	for i, v := range []any{item, res} {
		b, err := encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), b)
		f.Add(byte(i), b[:len(b)/2])
	}
	bad := res
	bad.Trajectories = []*rollout.Trajectory{{States: []string{"s0"}, Turns: res.Trajectories[0].Turns}}
	if b, err := encode(bad); err == nil {
		f.Add(byte(1), b)
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		if kind%2 == 0 {
			var it Item
			_ = decode(data, &it)
			return
		}
		var r Result
		if decode(data, &r) != nil || r.check() != nil {
			return
		}
		for _, tr := range r.Trajectories {
			e := tr.Episode()
			if len(e.States) != len(e.Actions)+1 {
				t.Fatalf("checked episode with %d states for %d actions", len(e.States), len(e.Actions))
			}
			_ = tr.Return()
		}
	})
}
