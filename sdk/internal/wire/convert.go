package wire

import (
	"encoding/json"
	"fmt"

	"github.com/lathe-ml/lathe/sdk"
	pb "github.com/lathe-ml/lathe/sdk/internal/proto"
)

// The converters below are the only place that knows both the sdk types and
// the protobuf messages. Each direction is nil-safe: a nil message converts to
// the zero sdk value, and protobuf getters never dereference nil.

// SchemaToProto encodes a schema; attribute defaults travel as JSON so any
// JSON-compatible value survives the wire.
func SchemaToProto(s sdk.Schema) (*pb.SchemaResponse, error) {
	out := &pb.SchemaResponse{Description: s.Description}
	for _, a := range s.Attributes {
		var def []byte
		if a.Default != nil {
			b, err := json.Marshal(a.Default)
			if err != nil {
				return nil, fmt.Errorf("wire: default of attribute %q: %w", a.Name, err)
			}
			def = b
		}
		out.Attributes = append(out.Attributes, &pb.Attribute{
			Name: a.Name, Type: a.Type, Description: a.Description,
			Required: a.Required, DefaultJson: def,
		})
	}
	return out, nil
}

// SchemaFromProto decodes a schema; defaults come back as string, float64,
// bool, []any or map[string]any.
func SchemaFromProto(p *pb.SchemaResponse) (sdk.Schema, error) {
	out := sdk.Schema{Description: p.GetDescription()}
	for _, a := range p.GetAttributes() {
		var def any
		if len(a.GetDefaultJson()) > 0 {
			if err := json.Unmarshal(a.GetDefaultJson(), &def); err != nil {
				return sdk.Schema{}, fmt.Errorf("wire: default of attribute %q: %w", a.GetName(), err)
			}
		}
		out.Attributes = append(out.Attributes, sdk.Attribute{
			Name: a.GetName(), Type: a.GetType(), Description: a.GetDescription(),
			Required: a.GetRequired(), Default: def,
		})
	}
	return out, nil
}

// TaskToProto encodes a task.
func TaskToProto(t sdk.Task) *pb.Task {
	return &pb.Task{
		Id: t.ID, Text: t.Text, Program: t.Program, Tests: t.Tests,
		Reference: t.Reference, Setup: t.Setup, TimeoutS: t.TimeoutS, Split: t.Split,
	}
}

// TaskFromProto decodes a task.
func TaskFromProto(p *pb.Task) sdk.Task {
	return sdk.Task{
		ID: p.GetId(), Text: p.GetText(), Program: p.GetProgram(), Tests: p.GetTests(),
		Reference: p.GetReference(), Setup: p.GetSetup(), TimeoutS: p.GetTimeoutS(), Split: p.GetSplit(),
	}
}

// StepInfoToProto encodes a step info.
func StepInfoToProto(i sdk.StepInfo) *pb.StepInfo {
	return &pb.StepInfo{
		Passed: int32(i.Passed), Total: int32(i.Total), Solved: i.Solved, Valid: i.Valid,
		ErrorClass: i.ErrorClass, Exited: i.Exited, TurnLimit: i.TurnLimit, Turn: int32(i.Turn),
		ErrorType: i.ErrorType,
	}
}

// StepInfoFromProto decodes a step info.
func StepInfoFromProto(p *pb.StepInfo) sdk.StepInfo {
	return sdk.StepInfo{
		Passed: int(p.GetPassed()), Total: int(p.GetTotal()), Solved: p.GetSolved(), Valid: p.GetValid(),
		ErrorClass: p.GetErrorClass(), Exited: p.GetExited(), TurnLimit: p.GetTurnLimit(), Turn: int(p.GetTurn()),
		ErrorType: p.GetErrorType(),
	}
}

// ObservationToProto encodes an observation.
func ObservationToProto(o sdk.Observation) *pb.Observation {
	return &pb.Observation{Text: o.Text, Info: StepInfoToProto(o.Info), Done: o.Done}
}

// ObservationFromProto decodes an observation.
func ObservationFromProto(p *pb.Observation) sdk.Observation {
	return sdk.Observation{Text: p.GetText(), Info: StepInfoFromProto(p.GetInfo()), Done: p.GetDone()}
}

// ResetResponseToProto encodes a reset response.
func ResetResponseToProto(r sdk.ResetResponse) *pb.ResetResponse {
	return &pb.ResetResponse{
		Session: r.Session, Prompt: r.Prompt,
		Observation: ObservationToProto(r.Observation), Stop: r.Stop,
	}
}

// ResetResponseFromProto decodes a reset response.
func ResetResponseFromProto(p *pb.ResetResponse) sdk.ResetResponse {
	return sdk.ResetResponse{
		Session: p.GetSession(), Prompt: p.GetPrompt(),
		Observation: ObservationFromProto(p.GetObservation()), Stop: p.GetStop(),
	}
}

// StepRequestToProto encodes a step request.
func StepRequestToProto(r sdk.StepRequest) *pb.StepRequest {
	return &pb.StepRequest{Session: r.Session, Action: r.Action}
}

// StepRequestFromProto decodes a step request.
func StepRequestFromProto(p *pb.StepRequest) sdk.StepRequest {
	return sdk.StepRequest{Session: p.GetSession(), Action: p.GetAction()}
}

// DemonstrationToProto encodes a demonstration.
func DemonstrationToProto(d sdk.Demonstration) *pb.Demonstration {
	return &pb.Demonstration{TaskId: d.TaskID, Program: d.Program, Actions: d.Actions, Corruptions: d.Corruptions, Learn: int32(d.Learn)}
}

// DemonstrationFromProto decodes a demonstration.
func DemonstrationFromProto(p *pb.Demonstration) sdk.Demonstration {
	return sdk.Demonstration{
		TaskID: p.GetTaskId(), Program: p.GetProgram(),
		Actions: p.GetActions(), Corruptions: p.GetCorruptions(), Learn: int(p.GetLearn()),
	}
}

// TransitionToProto encodes a transition.
func TransitionToProto(t sdk.Transition) *pb.Transition {
	return &pb.Transition{
		TaskId: t.TaskID, Action: t.Action,
		Before: StepInfoToProto(t.Before), After: StepInfoToProto(t.After),
		Turn: int32(t.Turn), Done: t.Done, SolvedEarlier: t.SolvedEarlier,
	}
}

// TransitionFromProto decodes a transition.
func TransitionFromProto(p *pb.Transition) sdk.Transition {
	return sdk.Transition{
		TaskID: p.GetTaskId(), Action: p.GetAction(),
		Before: StepInfoFromProto(p.GetBefore()), After: StepInfoFromProto(p.GetAfter()),
		Turn: int(p.GetTurn()), Done: p.GetDone(), SolvedEarlier: p.GetSolvedEarlier(),
	}
}

// ScoreToProto encodes a score.
func ScoreToProto(s sdk.Score) *pb.ScoreResponse {
	return &pb.ScoreResponse{Reward: s.Reward, Components: s.Components}
}

// ScoreFromProto decodes a score.
func ScoreFromProto(p *pb.ScoreResponse) sdk.Score {
	return sdk.Score{Reward: p.GetReward(), Components: p.GetComponents()}
}

// SamplingToProto encodes sampling settings.
func SamplingToProto(s sdk.Sampling) *pb.Sampling {
	return &pb.Sampling{
		Temperature: s.Temperature, TopP: s.TopP, MaxTokens: int32(s.MaxTokens),
		Stop: s.Stop, Seed: s.Seed, Seeds: s.Seeds,
	}
}

// SamplingFromProto decodes sampling settings.
func SamplingFromProto(p *pb.Sampling) sdk.Sampling {
	return sdk.Sampling{
		Temperature: p.GetTemperature(), TopP: p.GetTopP(), MaxTokens: int(p.GetMaxTokens()),
		Stop: p.GetStop(), Seed: p.GetSeed(), Seeds: p.GetSeeds(),
	}
}

// GenerateRequestToProto encodes a generate request.
func GenerateRequestToProto(r sdk.GenerateRequest) *pb.GenerateRequest {
	out := &pb.GenerateRequest{Contexts: r.Contexts, Sampling: SamplingToProto(r.Sampling)}
	for _, conv := range r.Messages {
		c := &pb.Conversation{}
		for _, m := range conv {
			c.Messages = append(c.Messages, &pb.Message{Role: m.Role, Content: m.Content})
		}
		out.Messages = append(out.Messages, c)
	}
	return out
}

// GenerateRequestFromProto decodes a generate request.
func GenerateRequestFromProto(p *pb.GenerateRequest) sdk.GenerateRequest {
	out := sdk.GenerateRequest{Contexts: p.GetContexts(), Sampling: SamplingFromProto(p.GetSampling())}
	for _, c := range p.GetMessages() {
		var conv []sdk.Message
		for _, m := range c.GetMessages() {
			conv = append(conv, sdk.Message{Role: m.GetRole(), Content: m.GetContent()})
		}
		out.Messages = append(out.Messages, conv)
	}
	return out
}

// GenerateResponseToProto encodes a generate response.
func GenerateResponseToProto(r sdk.GenerateResponse) *pb.GenerateResponse {
	out := &pb.GenerateResponse{}
	for _, c := range r.Completions {
		out.Completions = append(out.Completions, &pb.Completion{
			Text: c.Text, Tokens: c.Tokens, Logprobs: c.Logprobs, StopReason: c.StopReason,
		})
	}
	return out
}

// GenerateResponseFromProto decodes a generate response.
func GenerateResponseFromProto(p *pb.GenerateResponse) sdk.GenerateResponse {
	var out sdk.GenerateResponse
	for _, c := range p.GetCompletions() {
		out.Completions = append(out.Completions, sdk.Completion{
			Text: c.GetText(), Tokens: c.GetTokens(), Logprobs: c.GetLogprobs(), StopReason: c.GetStopReason(),
		})
	}
	return out
}

// ModelInfoToProto encodes model info.
func ModelInfoToProto(i sdk.ModelInfo) *pb.ModelInfo {
	return &pb.ModelInfo{
		Name: i.Name, Parameters: i.Parameters, Context: int32(i.Context),
		Vocab: int32(i.Vocab), Device: i.Device, Backend: i.Backend, WholeEpisodes: i.WholeEpisodes,
	}
}

// ModelInfoFromProto decodes model info.
func ModelInfoFromProto(p *pb.ModelInfo) sdk.ModelInfo {
	return sdk.ModelInfo{
		Name: p.GetName(), Parameters: p.GetParameters(), Context: int(p.GetContext()),
		Vocab: int(p.GetVocab()), Device: p.GetDevice(), Backend: p.GetBackend(),
		WholeEpisodes: p.GetWholeEpisodes(),
	}
}

// SupervisedBatchToProto encodes a supervised batch.
func SupervisedBatchToProto(b sdk.SupervisedBatch) *pb.SupervisedBatch {
	out := &pb.SupervisedBatch{Step: int32(b.Step), TotalSteps: int32(b.TotalSteps), LearningRate: b.LearningRate,
		ContextWeight: b.ContextWeight}
	for _, e := range b.Examples {
		pe := &pb.SupervisedExample{Context: e.Context, Target: e.Target}
		for _, t := range e.Turns {
			pe.Turns = append(pe.Turns, &pb.SupervisedTurn{Context: t.Context, Target: t.Target})
		}
		out.Examples = append(out.Examples, pe)
	}
	return out
}

// SupervisedBatchFromProto decodes a supervised batch.
func SupervisedBatchFromProto(p *pb.SupervisedBatch) sdk.SupervisedBatch {
	out := sdk.SupervisedBatch{Step: int(p.GetStep()), TotalSteps: int(p.GetTotalSteps()), LearningRate: p.GetLearningRate(),
		ContextWeight: p.GetContextWeight()}
	for _, e := range p.GetExamples() {
		se := sdk.SupervisedExample{Context: e.GetContext(), Target: e.GetTarget()}
		for _, t := range e.GetTurns() {
			se.Turns = append(se.Turns, sdk.SupervisedTurn{Context: t.GetContext(), Target: t.GetTarget()})
		}
		out.Examples = append(out.Examples, se)
	}
	return out
}

// PolicyExamplesToProto encodes policy examples.
func PolicyExamplesToProto(es []sdk.PolicyExample) []*pb.PolicyExample {
	var out []*pb.PolicyExample
	for _, e := range es {
		out = append(out, &pb.PolicyExample{
			Context: e.Context, Completion: e.Completion, Tokens: e.Tokens, Advantage: e.Advantage,
			OldLogprobs: e.OldLogprobs, RefLogprobs: e.RefLogprobs,
		})
	}
	return out
}

// PolicyExamplesFromProto decodes policy examples.
func PolicyExamplesFromProto(ps []*pb.PolicyExample) []sdk.PolicyExample {
	var out []sdk.PolicyExample
	for _, e := range ps {
		out = append(out, sdk.PolicyExample{
			Context: e.GetContext(), Completion: e.GetCompletion(), Tokens: e.GetTokens(),
			Advantage: e.GetAdvantage(), OldLogprobs: e.GetOldLogprobs(), RefLogprobs: e.GetRefLogprobs(),
		})
	}
	return out
}

// PolicyBatchToProto encodes a policy batch.
func PolicyBatchToProto(b sdk.PolicyBatch) *pb.PolicyBatch {
	return &pb.PolicyBatch{
		Examples: PolicyExamplesToProto(b.Examples), ClipEps: b.ClipEps, KlCoef: b.KLCoef,
		Step: int32(b.Step), TotalSteps: int32(b.TotalSteps), LearningRate: b.LearningRate,
	}
}

// PolicyBatchFromProto decodes a policy batch.
func PolicyBatchFromProto(p *pb.PolicyBatch) sdk.PolicyBatch {
	return sdk.PolicyBatch{
		Examples: PolicyExamplesFromProto(p.GetExamples()), ClipEps: p.GetClipEps(), KLCoef: p.GetKlCoef(),
		Step: int(p.GetStep()), TotalSteps: int(p.GetTotalSteps()), LearningRate: p.GetLearningRate(),
	}
}

// TrainStatsToProto encodes training stats.
func TrainStatsToProto(s sdk.TrainStats) *pb.TrainStats {
	return &pb.TrainStats{Loss: s.Loss, Tokens: int32(s.Tokens), Metrics: s.Metrics}
}

// TrainStatsFromProto decodes training stats.
func TrainStatsFromProto(p *pb.TrainStats) sdk.TrainStats {
	return sdk.TrainStats{Loss: p.GetLoss(), Tokens: int(p.GetTokens()), Metrics: p.GetMetrics()}
}

// LogprobsResponseToProto encodes per-example log-probs.
func LogprobsResponseToProto(r sdk.LogprobsResponse) *pb.LogprobsResponse {
	out := &pb.LogprobsResponse{}
	for _, l := range r.Logprobs {
		out.Logprobs = append(out.Logprobs, &pb.LogprobList{Values: l})
	}
	return out
}

// LogprobsResponseFromProto decodes per-example log-probs.
func LogprobsResponseFromProto(p *pb.LogprobsResponse) sdk.LogprobsResponse {
	var out sdk.LogprobsResponse
	for _, l := range p.GetLogprobs() {
		out.Logprobs = append(out.Logprobs, l.GetValues())
	}
	return out
}
