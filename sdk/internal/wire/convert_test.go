package wire

import (
	"reflect"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
	pb "github.com/lathe-ml/lathe/sdk/internal/proto"
)

// Every converter pair must round-trip a fully populated value and the
// zero value, and map a nil message to the zero value.
func TestRoundTrip(t *testing.T) {
	info := sdk.StepInfo{Passed: 2, Total: 3, Solved: false, Valid: true, ErrorClass: "assertion", ErrorType: "NameError", Exited: true, TurnLimit: true, Turn: 4}
	task := sdk.Task{ID: "t1", Text: "sum", Program: "def f(): pass", Tests: "assert f() == 1", Reference: "def f(): return 1", Setup: "import os", TimeoutS: 2.5, Split: "test"}
	cases := []struct {
		name string
		in   any
		rt   func(any) any // sdk -> proto -> sdk
		nil_ func() any    // nil proto -> sdk
	}{
		{"task", task,
			func(v any) any { return TaskFromProto(TaskToProto(v.(sdk.Task))) },
			func() any { return TaskFromProto(nil) }},
		{"step info", info,
			func(v any) any { return StepInfoFromProto(StepInfoToProto(v.(sdk.StepInfo))) },
			func() any { return StepInfoFromProto(nil) }},
		{"reset response", sdk.ResetResponse{Session: "s", Prompt: "fix it", Stop: []string{"\n"}, Observation: sdk.Observation{Text: "L 1 x", Info: info, Done: true}},
			func(v any) any { return ResetResponseFromProto(ResetResponseToProto(v.(sdk.ResetResponse))) },
			func() any { return ResetResponseFromProto(nil) }},
		{"step request", sdk.StepRequest{Session: "s", Action: "DELL 1"},
			func(v any) any { return StepRequestFromProto(StepRequestToProto(v.(sdk.StepRequest))) },
			func() any { return StepRequestFromProto(nil) }},
		{"demonstration", sdk.Demonstration{TaskID: "t", Program: "p", Actions: []string{"DELL 1", "EXIT"}, Corruptions: []string{"typo"}},
			func(v any) any { return DemonstrationFromProto(DemonstrationToProto(v.(sdk.Demonstration))) },
			func() any { return DemonstrationFromProto(nil) }},
		{"transition", sdk.Transition{TaskID: "t", Action: "EXIT", Before: info, After: sdk.StepInfo{Solved: true}, Turn: 3, Done: true, SolvedEarlier: true},
			func(v any) any { return TransitionFromProto(TransitionToProto(v.(sdk.Transition))) },
			func() any { return TransitionFromProto(nil) }},
		{"score", sdk.Score{Reward: -0.5, Components: map[string]float64{"format": -0.5}},
			func(v any) any { return ScoreFromProto(ScoreToProto(v.(sdk.Score))) },
			func() any { return ScoreFromProto(nil) }},
		{"generate request", sdk.GenerateRequest{Contexts: []string{"a", "b"}, Sampling: sdk.Sampling{Temperature: 0.7, TopP: 0.9, MaxTokens: 64, Stop: []string{"\n"}, Seed: 7, Seeds: []int64{3, -4}}},
			func(v any) any { return GenerateRequestFromProto(GenerateRequestToProto(v.(sdk.GenerateRequest))) },
			func() any { return GenerateRequestFromProto(nil) }},
		{"generate request with messages", sdk.GenerateRequest{Contexts: []string{"p\ns0\n$ A\ns1\n$ ", "p\ns0\n$ "},
			Messages: [][]sdk.Message{{{Role: sdk.RoleUser, Content: "p\ns0\n"}, {Role: sdk.RoleAssistant, Content: "A"}, {Role: sdk.RoleUser, Content: "s1\n"}},
				{{Role: sdk.RoleUser, Content: "p\ns0\n"}}}},
			func(v any) any { return GenerateRequestFromProto(GenerateRequestToProto(v.(sdk.GenerateRequest))) },
			func() any { return GenerateRequestFromProto(nil) }},
		{"generate response", sdk.GenerateResponse{Completions: []sdk.Completion{{Text: "DELL 1\n", Tokens: []int32{5, 9}, Logprobs: []float64{-0.1, -2}, StopReason: "stop"}, {}}},
			func(v any) any { return GenerateResponseFromProto(GenerateResponseToProto(v.(sdk.GenerateResponse))) },
			func() any { return GenerateResponseFromProto(nil) }},
		{"model info", sdk.ModelInfo{Name: "tiny", Parameters: 438000, Context: 512, Vocab: 260, Device: "cpu", Backend: "gorgonia", WholeEpisodes: true},
			func(v any) any { return ModelInfoFromProto(ModelInfoToProto(v.(sdk.ModelInfo))) },
			func() any { return ModelInfoFromProto(nil) }},
		{"supervised batch", sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{{Context: "c", Target: "t"}}, Step: 3, TotalSteps: 10, LearningRate: 1e-3},
			func(v any) any { return SupervisedBatchFromProto(SupervisedBatchToProto(v.(sdk.SupervisedBatch))) },
			func() any { return SupervisedBatchFromProto(nil) }},
		{"whole-episode batch", sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{{Context: "c", Target: "t",
			Turns: []sdk.SupervisedTurn{{Context: "c2", Target: "t2"}, {Context: "c3", Target: "t3"}}}}, ContextWeight: 0.25},
			func(v any) any { return SupervisedBatchFromProto(SupervisedBatchToProto(v.(sdk.SupervisedBatch))) },
			func() any { return SupervisedBatchFromProto(nil) }},
		{"policy batch", sdk.PolicyBatch{Examples: []sdk.PolicyExample{{Context: "c", Completion: "x", Tokens: []int32{1}, Advantage: -1.5, OldLogprobs: []float64{-1}, RefLogprobs: []float64{-1.1}}}, ClipEps: 0.2, KLCoef: 0.01, Step: 1, TotalSteps: 2, LearningRate: 3e-4},
			func(v any) any { return PolicyBatchFromProto(PolicyBatchToProto(v.(sdk.PolicyBatch))) },
			func() any { return PolicyBatchFromProto(nil) }},
		{"train stats", sdk.TrainStats{Loss: 1.25, Tokens: 40, Metrics: map[string]float64{"kl": 0.01}},
			func(v any) any { return TrainStatsFromProto(TrainStatsToProto(v.(sdk.TrainStats))) },
			func() any { return TrainStatsFromProto(nil) }},
		{"logprobs", sdk.LogprobsResponse{Logprobs: [][]float64{{-1, -2}, {-3}}},
			func(v any) any { return LogprobsResponseFromProto(LogprobsResponseToProto(v.(sdk.LogprobsResponse))) },
			func() any { return LogprobsResponseFromProto(nil) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.rt(c.in); !reflect.DeepEqual(got, c.in) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, c.in)
			}
			zero := reflect.Zero(reflect.TypeOf(c.in)).Interface()
			if got := c.rt(zero); !reflect.DeepEqual(got, zero) {
				t.Errorf("zero round trip: got %#v", got)
			}
			if got := c.nil_(); !reflect.DeepEqual(got, zero) {
				t.Errorf("nil message: got %#v, want zero", got)
			}
		})
	}
}

func TestSchemaDefaults(t *testing.T) {
	cases := []struct {
		name string
		def  any
		want any // what comes back: JSON's view of the value
		json string
	}{
		{"no default", nil, nil, ""},
		{"number", 0.5, 0.5, "0.5"},
		{"int becomes float64", 3, 3.0, "3"},
		{"string", "cpu", "cpu", `"cpu"`},
		{"bool false", false, false, "false"},
		{"list", []string{"a", "b"}, []any{"a", "b"}, `["a","b"]`},
		{"map", map[string]float64{"x": 1}, map[string]any{"x": 1.0}, `{"x":1}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := sdk.Schema{Description: "d", Attributes: []sdk.Attribute{{Name: "a", Type: "number", Description: "desc", Required: true, Default: c.def}}}
			p, err := SchemaToProto(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(p.Attributes[0].DefaultJson); got != c.json {
				t.Errorf("wire default = %q, want %q", got, c.json)
			}
			out, err := SchemaFromProto(p)
			if err != nil {
				t.Fatal(err)
			}
			want := in
			want.Attributes = []sdk.Attribute{in.Attributes[0]}
			want.Attributes[0].Default = c.want
			if !reflect.DeepEqual(out, want) {
				t.Errorf("got %#v, want %#v", out, want)
			}
		})
	}
}

func TestSchemaErrors(t *testing.T) {
	if _, err := SchemaToProto(sdk.Schema{Attributes: []sdk.Attribute{{Name: "f", Default: func() {}}}}); err == nil {
		t.Error("unencodable default: no error")
	}
	_, err := SchemaFromProto(&pb.SchemaResponse{Attributes: []*pb.Attribute{{Name: "bad", DefaultJson: []byte("{")}}})
	if err == nil || err.Error() == "" {
		t.Fatal("bad JSON default: no error")
	}
	if got := err.Error(); got[:len(`wire: default of attribute "bad"`)] != `wire: default of attribute "bad"` {
		t.Errorf("error = %q", got)
	}
	s, err := SchemaFromProto(nil)
	if err != nil || !reflect.DeepEqual(s, sdk.Schema{}) {
		t.Errorf("nil schema = %#v, %v", s, err)
	}
}

func TestCapabilities(t *testing.T) {
	cases := []struct {
		name string
		impl any
		want []string
	}{
		{"none", struct{}{}, nil},
		{"batch reward", batchReward{}, []string{CapRewardWithBatch}},
		{"full model", fullModel{}, []string{CapModelWithTraining, CapModelWithCheckpoints}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Capabilities(c.impl); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
