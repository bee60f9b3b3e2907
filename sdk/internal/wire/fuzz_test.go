package wire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lathe-ml/lathe/sdk"
	pb "github.com/lathe-ml/lathe/sdk/internal/proto"
)

// wireCase converts one message type: decode wraps proto -> sdk -> proto,
// so that a message that crossed the wire once can be compared with one
// that crossed it twice. A converter that drops, invents or changes a
// field on the way shows as a difference.
type wireCase struct {
	name   string
	msg    func() proto.Message
	decode func(proto.Message) (proto.Message, error)
	sample proto.Message // a realistic message: the seed
}

func wire[P proto.Message, V any](name string, newP func() P, from func(P) V, to func(V) P, sample V) wireCase {
	return wireCase{
		name: name,
		msg:  func() proto.Message { return newP() },
		decode: func(m proto.Message) (proto.Message, error) {
			return to(from(m.(P))), nil
		},
		sample: to(sample),
	}
}

var fuzzInfo = sdk.StepInfo{Passed: 2, Total: 3, Valid: true, ErrorClass: "assertion", ErrorType: "AssertionError", Turn: 4}

// wireCases covers every converter pair: a host decodes what a plugin
// sends (responses), a plugin what the host sends (requests); either may
// be a program someone else wrote.
var wireCases = []wireCase{
	wire("task", func() *pb.Task { return &pb.Task{} }, TaskFromProto, TaskToProto,
		sdk.Task{ID: "basic/001", Text: "sum", Program: "def f():\n    retrun 1\n", Tests: "assert f() == 1", Reference: "def f():\n    return 1\n", TimeoutS: 2, Split: "test"}),
	wire("step info", func() *pb.StepInfo { return &pb.StepInfo{} }, StepInfoFromProto, StepInfoToProto, fuzzInfo),
	wire("observation", func() *pb.Observation { return &pb.Observation{} }, ObservationFromProto, ObservationToProto,
		sdk.Observation{Text: "L 1 x = 1\n***\nAll 1 tests passed.", Info: fuzzInfo, Done: true}),
	wire("reset response", func() *pb.ResetResponse { return &pb.ResetResponse{} }, ResetResponseFromProto, ResetResponseToProto,
		sdk.ResetResponse{Session: "s1", Prompt: "Repair the program.", Stop: []string{"\n"}, Observation: sdk.Observation{Text: "L 1 x", Info: fuzzInfo}}),
	wire("step request", func() *pb.StepRequest { return &pb.StepRequest{} }, StepRequestFromProto, StepRequestToProto,
		sdk.StepRequest{Session: "s1", Action: "REPW 3 >>>retrun >>>return"}),
	wire("demonstration", func() *pb.Demonstration { return &pb.Demonstration{} }, DemonstrationFromProto, DemonstrationToProto,
		sdk.Demonstration{TaskID: "t", Program: "p", Actions: []string{"DELL 1", "EXIT"}, Corruptions: []string{"typo"}}),
	wire("transition", func() *pb.Transition { return &pb.Transition{} }, TransitionFromProto, TransitionToProto,
		sdk.Transition{TaskID: "t", Action: "EXIT", Before: fuzzInfo, After: sdk.StepInfo{Solved: true}, Turn: 3, Done: true}),
	wire("score", func() *pb.ScoreResponse { return &pb.ScoreResponse{} }, ScoreFromProto, ScoreToProto,
		sdk.Score{Reward: -0.5, Components: map[string]float64{"format": -0.5, "solved": 0}}),
	wire("sampling", func() *pb.Sampling { return &pb.Sampling{} }, SamplingFromProto, SamplingToProto,
		sdk.Sampling{Temperature: 0.8, TopP: 0.95, MaxTokens: 96, Stop: []string{"\n"}, Seed: 7}),
	wire("generate request", func() *pb.GenerateRequest { return &pb.GenerateRequest{} }, GenerateRequestFromProto, GenerateRequestToProto,
		sdk.GenerateRequest{Contexts: []string{"p\ns0\n$ "}, Messages: [][]sdk.Message{{{Role: sdk.RoleUser, Content: "p"}, {Role: sdk.RoleAssistant, Content: "EXIT"}}},
			Sampling: sdk.Sampling{Temperature: 1, MaxTokens: 24}}),
	wire("generate response", func() *pb.GenerateResponse { return &pb.GenerateResponse{} }, GenerateResponseFromProto, GenerateResponseToProto,
		sdk.GenerateResponse{Completions: []sdk.Completion{{Text: "DELL 1\n", Tokens: []int32{5, 9}, Logprobs: []float64{-0.1, -2}, StopReason: "stop"}}}),
	wire("model info", func() *pb.ModelInfo { return &pb.ModelInfo{} }, ModelInfoFromProto, ModelInfoToProto,
		sdk.ModelInfo{Name: "tiny", Parameters: 438000, Context: 512, Vocab: 260, Device: "cpu", Backend: "gonum", WholeEpisodes: true}),
	wire("supervised batch", func() *pb.SupervisedBatch { return &pb.SupervisedBatch{} }, SupervisedBatchFromProto, SupervisedBatchToProto,
		sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{{Context: "c", Target: "t", Turns: []sdk.SupervisedTurn{{Context: "c2", Target: "t2"}}}},
			Step: 3, TotalSteps: 10, LearningRate: 1e-3, ContextWeight: 0.25}),
	wire("policy batch", func() *pb.PolicyBatch { return &pb.PolicyBatch{} }, PolicyBatchFromProto, PolicyBatchToProto,
		sdk.PolicyBatch{Examples: []sdk.PolicyExample{{Context: "c", Completion: "x", Tokens: []int32{1}, Advantage: -1.5, OldLogprobs: []float64{-1}, RefLogprobs: []float64{-1.1}}},
			ClipEps: 0.2, KLCoef: 0.01, Step: 1, TotalSteps: 2, LearningRate: 3e-4}),
	wire("train stats", func() *pb.TrainStats { return &pb.TrainStats{} }, TrainStatsFromProto, TrainStatsToProto,
		sdk.TrainStats{Loss: 1.25, Tokens: 40, Metrics: map[string]float64{"kl": 0.01}}),
	wire("logprobs", func() *pb.LogprobsResponse { return &pb.LogprobsResponse{} }, LogprobsResponseFromProto, LogprobsResponseToProto,
		sdk.LogprobsResponse{Logprobs: [][]float64{{-1, -2}, {-3}}}),
	{
		name: "schema",
		msg:  func() proto.Message { return &pb.SchemaResponse{} },
		decode: func(m proto.Message) (proto.Message, error) {
			s, err := SchemaFromProto(m.(*pb.SchemaResponse))
			if err != nil {
				return nil, err
			}
			return SchemaToProto(s)
		},
		sample: func() proto.Message {
			p, err := SchemaToProto(sdk.Schema{Description: "d", Attributes: []sdk.Attribute{
				{Name: "max_turns", Type: "number", Default: 10.0}, {Name: "order", Type: "string", Default: "feedback"},
				{Name: "k", Type: "list(number)", Default: []any{1.0, 4.0}}}})
			if err != nil {
				panic(err)
			}
			return p
		}(),
	},
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// FuzzFromProto: any bytes a peer sends, once they parse as the message,
// convert to the sdk type without a panic (or, for a schema, an error), and
// the conversion is stable: what crosses the wire a second time equals
// what crossed it once. The first byte picks the message type.
func FuzzFromProto(f *testing.F) {
	for i, c := range wireCases {
		b, err := deterministic.Marshal(c.sample)
		if err != nil {
			f.Fatal(c.name, err)
		}
		f.Add(byte(i), b)
		f.Add(byte(i), []byte{})
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		c := wireCases[int(kind)%len(wireCases)]
		m := c.msg()
		if err := proto.Unmarshal(data, m); err != nil {
			return // gRPC rejects it before any converter runs
		}
		once, err := c.decode(m)
		if err != nil {
			return // reported to the caller as an error
		}
		twice, err := c.decode(once)
		if err != nil {
			t.Fatalf("%s: a converted message fails to convert again: %v", c.name, err)
		}
		b1, err1 := deterministic.Marshal(once)
		b2, err2 := deterministic.Marshal(twice)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: a converted message does not marshal: %v, %v", c.name, err1, err2)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("%s: converting twice changes the message:\nonce  %v\ntwice %v", c.name, once, twice)
		}
	})
}
