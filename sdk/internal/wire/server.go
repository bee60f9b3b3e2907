package wire

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lathe-ml/lathe/sdk"
	pb "github.com/lathe-ml/lathe/sdk/internal/proto"
)

// pluginErr turns an error returned by the plugin's implementation into a
// gRPC status the client recognises as the plugin's own error (code
// Unknown), as opposed to a transport failure.
func pluginErr(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(codes.Unknown, err.Error())
}

// unimplemented answers a call to an optional interface the plugin lacks.
func unimplemented(impl any, iface string) error {
	return status.Errorf(codes.Unimplemented, "%T does not implement sdk.%s", impl, iface)
}

func schema(ctx context.Context, p sdk.Plugin) (*pb.SchemaResponse, error) {
	s, err := p.Schema(ctx)
	if err != nil {
		return nil, pluginErr(err)
	}
	out, err := SchemaToProto(s)
	return out, pluginErr(err)
}

func configure(ctx context.Context, p sdk.Plugin, req *pb.ConfigureRequest) (*pb.Empty, error) {
	if err := p.Configure(ctx, sdk.Config(req.GetConfigJson())); err != nil {
		return nil, pluginErr(err)
	}
	return &pb.Empty{}, nil
}

// validateConfig answers ValidateConfig for a plugin of any kind.
func validateConfig(ctx context.Context, impl any, req *pb.ConfigureRequest) (*pb.ValidateConfigResponse, error) {
	v, ok := impl.(sdk.ConfigValidator)
	if !ok {
		return nil, unimplemented(impl, "ConfigValidator")
	}
	errs, err := v.ValidateConfig(ctx, sdk.Config(req.GetConfigJson()))
	if err != nil {
		return nil, pluginErr(err)
	}
	out := &pb.ValidateConfigResponse{}
	for _, e := range errs {
		out.Errors = append(out.Errors, &pb.ConfigError{Attribute: e.Attribute, Message: e.Message})
	}
	return out, nil
}

type toolServer struct {
	pb.UnimplementedToolServer
	impl sdk.Tool
}

func (s *toolServer) Schema(ctx context.Context, _ *pb.Empty) (*pb.SchemaResponse, error) {
	return schema(ctx, s.impl)
}

func (s *toolServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.Empty, error) {
	return configure(ctx, s.impl, req)
}

func (s *toolServer) ValidateConfig(ctx context.Context, req *pb.ConfigureRequest) (*pb.ValidateConfigResponse, error) {
	return validateConfig(ctx, s.impl, req)
}

func (s *toolServer) Capabilities(context.Context, *pb.Empty) (*pb.CapabilitiesResponse, error) {
	return &pb.CapabilitiesResponse{Names: Capabilities(s.impl)}, nil
}

func (s *toolServer) Reset(ctx context.Context, req *pb.ResetRequest) (*pb.ResetResponse, error) {
	r, err := s.impl.Reset(ctx, sdk.ResetRequest{Task: TaskFromProto(req.GetTask())})
	if err != nil {
		return nil, pluginErr(err)
	}
	return ResetResponseToProto(r), nil
}

func (s *toolServer) Step(ctx context.Context, req *pb.StepRequest) (*pb.StepResponse, error) {
	r, err := s.impl.Step(ctx, StepRequestFromProto(req))
	if err != nil {
		return nil, pluginErr(err)
	}
	return &pb.StepResponse{Observation: ObservationToProto(r.Observation)}, nil
}

func (s *toolServer) Close(ctx context.Context, req *pb.CloseRequest) (*pb.Empty, error) {
	if err := s.impl.Close(ctx, req.GetSession()); err != nil {
		return nil, pluginErr(err)
	}
	return &pb.Empty{}, nil
}

func (s *toolServer) StepBatch(ctx context.Context, req *pb.StepBatchRequest) (*pb.StepBatchResponse, error) {
	b, ok := s.impl.(sdk.ToolWithBatch)
	if !ok {
		return nil, unimplemented(s.impl, CapToolWithBatch)
	}
	reqs := make([]sdk.StepRequest, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		reqs[i] = StepRequestFromProto(r)
	}
	resps, err := b.StepBatch(ctx, reqs)
	if err != nil {
		return nil, pluginErr(err)
	}
	if len(resps) != len(reqs) {
		return nil, pluginErr(fmt.Errorf("StepBatch returned %d responses for %d requests", len(resps), len(reqs)))
	}
	out := &pb.StepBatchResponse{}
	for _, r := range resps {
		out.Responses = append(out.Responses, &pb.StepResponse{Observation: ObservationToProto(r.Observation)})
	}
	return out, nil
}

func (s *toolServer) Demonstrate(ctx context.Context, req *pb.DemonstrateRequest) (*pb.DemonstrateResponse, error) {
	d, ok := s.impl.(sdk.ToolWithDemonstrate)
	if !ok {
		return nil, unimplemented(s.impl, CapToolWithDemonstrate)
	}
	demos, err := d.Demonstrate(ctx, sdk.DemonstrateRequest{
		Task: TaskFromProto(req.GetTask()), Seed: req.GetSeed(), N: int(req.GetN()), Verbatim: req.GetVerbatim(),
		Continuation: req.GetContinuation(), After: req.GetAfter(),
	})
	if err != nil {
		return nil, pluginErr(err)
	}
	out := &pb.DemonstrateResponse{}
	for _, x := range demos {
		out.Demonstrations = append(out.Demonstrations, DemonstrationToProto(x))
	}
	return out, nil
}

type rewardServer struct {
	pb.UnimplementedRewardServer
	impl sdk.Reward
}

func (s *rewardServer) Schema(ctx context.Context, _ *pb.Empty) (*pb.SchemaResponse, error) {
	return schema(ctx, s.impl)
}

func (s *rewardServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.Empty, error) {
	return configure(ctx, s.impl, req)
}

func (s *rewardServer) ValidateConfig(ctx context.Context, req *pb.ConfigureRequest) (*pb.ValidateConfigResponse, error) {
	return validateConfig(ctx, s.impl, req)
}

func (s *rewardServer) Capabilities(context.Context, *pb.Empty) (*pb.CapabilitiesResponse, error) {
	return &pb.CapabilitiesResponse{Names: Capabilities(s.impl)}, nil
}

func (s *rewardServer) Score(ctx context.Context, req *pb.Transition) (*pb.ScoreResponse, error) {
	sc, err := s.impl.Score(ctx, TransitionFromProto(req))
	if err != nil {
		return nil, pluginErr(err)
	}
	return ScoreToProto(sc), nil
}

func (s *rewardServer) ScoreBatch(ctx context.Context, req *pb.ScoreBatchRequest) (*pb.ScoreBatchResponse, error) {
	b, ok := s.impl.(sdk.RewardWithBatch)
	if !ok {
		return nil, unimplemented(s.impl, CapRewardWithBatch)
	}
	ts := make([]sdk.Transition, len(req.GetTransitions()))
	for i, t := range req.GetTransitions() {
		ts[i] = TransitionFromProto(t)
	}
	scores, err := b.ScoreBatch(ctx, ts)
	if err != nil {
		return nil, pluginErr(err)
	}
	if len(scores) != len(ts) {
		return nil, pluginErr(fmt.Errorf("ScoreBatch returned %d scores for %d transitions", len(scores), len(ts)))
	}
	out := &pb.ScoreBatchResponse{}
	for _, sc := range scores {
		out.Scores = append(out.Scores, ScoreToProto(sc))
	}
	return out, nil
}

type modelServer struct {
	pb.UnimplementedModelServer
	impl sdk.Model
}

func (s *modelServer) Schema(ctx context.Context, _ *pb.Empty) (*pb.SchemaResponse, error) {
	return schema(ctx, s.impl)
}

func (s *modelServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.Empty, error) {
	return configure(ctx, s.impl, req)
}

func (s *modelServer) ValidateConfig(ctx context.Context, req *pb.ConfigureRequest) (*pb.ValidateConfigResponse, error) {
	return validateConfig(ctx, s.impl, req)
}

func (s *modelServer) Capabilities(context.Context, *pb.Empty) (*pb.CapabilitiesResponse, error) {
	return &pb.CapabilitiesResponse{Names: Capabilities(s.impl)}, nil
}

func (s *modelServer) Generate(ctx context.Context, req *pb.GenerateRequest) (*pb.GenerateResponse, error) {
	r, err := s.impl.Generate(ctx, GenerateRequestFromProto(req))
	if err != nil {
		return nil, pluginErr(err)
	}
	return GenerateResponseToProto(r), nil
}

func (s *modelServer) Info(ctx context.Context, _ *pb.Empty) (*pb.ModelInfo, error) {
	i, err := s.impl.Info(ctx)
	if err != nil {
		return nil, pluginErr(err)
	}
	return ModelInfoToProto(i), nil
}

func (s *modelServer) training() (sdk.ModelWithTraining, error) {
	t, ok := s.impl.(sdk.ModelWithTraining)
	if !ok {
		return nil, unimplemented(s.impl, CapModelWithTraining)
	}
	return t, nil
}

func (s *modelServer) checkpoints() (sdk.ModelWithCheckpoints, error) {
	c, ok := s.impl.(sdk.ModelWithCheckpoints)
	if !ok {
		return nil, unimplemented(s.impl, CapModelWithCheckpoints)
	}
	return c, nil
}

func (s *modelServer) FitTokenizer(ctx context.Context, req *pb.FitTokenizerRequest) (*pb.Empty, error) {
	t, err := s.training()
	if err != nil {
		return nil, err
	}
	if err := t.FitTokenizer(ctx, req.GetCorpus()); err != nil {
		return nil, pluginErr(err)
	}
	return &pb.Empty{}, nil
}

func (s *modelServer) TrainSupervised(ctx context.Context, req *pb.SupervisedBatch) (*pb.TrainStats, error) {
	t, err := s.training()
	if err != nil {
		return nil, err
	}
	st, err := t.TrainSupervised(ctx, SupervisedBatchFromProto(req))
	if err != nil {
		return nil, pluginErr(err)
	}
	return TrainStatsToProto(st), nil
}

func (s *modelServer) TrainPolicy(ctx context.Context, req *pb.PolicyBatch) (*pb.TrainStats, error) {
	t, err := s.training()
	if err != nil {
		return nil, err
	}
	st, err := t.TrainPolicy(ctx, PolicyBatchFromProto(req))
	if err != nil {
		return nil, pluginErr(err)
	}
	return TrainStatsToProto(st), nil
}

func (s *modelServer) Logprobs(ctx context.Context, req *pb.LogprobsRequest) (*pb.LogprobsResponse, error) {
	t, err := s.training()
	if err != nil {
		return nil, err
	}
	r, err := t.Logprobs(ctx, sdk.LogprobsRequest{Examples: PolicyExamplesFromProto(req.GetExamples())})
	if err != nil {
		return nil, pluginErr(err)
	}
	return LogprobsResponseToProto(r), nil
}

func (s *modelServer) Save(ctx context.Context, req *pb.CheckpointRequest) (*pb.Empty, error) {
	c, err := s.checkpoints()
	if err != nil {
		return nil, err
	}
	if err := c.Save(ctx, req.GetDir()); err != nil {
		return nil, pluginErr(err)
	}
	return &pb.Empty{}, nil
}

func (s *modelServer) Load(ctx context.Context, req *pb.CheckpointRequest) (*pb.Empty, error) {
	c, err := s.checkpoints()
	if err != nil {
		return nil, err
	}
	if err := c.Load(ctx, req.GetDir()); err != nil {
		return nil, pluginErr(err)
	}
	return &pb.Empty{}, nil
}
