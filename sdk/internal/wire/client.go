package wire

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lathe-ml/lathe/sdk"
	pb "github.com/lathe-ml/lathe/sdk/internal/proto"
)

// ErrNotImplemented is matched (errors.Is) by the error a client returns when
// the plugin lacks the optional interface a method belongs to.
var ErrNotImplemented = errors.New("not implemented")

// NotImplementedError names the plugin and the method it does not implement.
type NotImplementedError struct {
	Plugin string // e.g. `plugin "editor" (coedit)`
	Method string // e.g. "Demonstrate"
}

func (e *NotImplementedError) Error() string {
	return fmt.Sprintf("%s does not implement %s", e.Plugin, e.Method)
}

// Is makes errors.Is(err, ErrNotImplemented) true.
func (e *NotImplementedError) Is(target error) bool { return target == ErrNotImplemented }

// TransportErrorFunc turns a transport failure of method into the error the
// caller sees; the host uses it to report a crashed plugin with its log.
type TransportErrorFunc func(method string, err error) error

// base is what every client shares: the name used in errors and the
// classification of a failed call.
type base struct {
	name      string
	transport TransportErrorFunc
}

// SetErrorContext sets the name errors start with (`plugin "editor" (coedit)`)
// and the hook for transport failures. Call it before sharing the client.
func (b *base) SetErrorContext(name string, transport TransportErrorFunc) {
	b.name = name
	b.transport = transport
}

// Name is the name errors start with.
func (b *base) Name() string {
	if b.name == "" {
		return "plugin"
	}
	return b.name
}

// err classifies a failed call: the plugin's own error (code Unknown), a
// missing optional interface (Unimplemented), the caller's cancellation, or a
// transport failure (the plugin died or the connection broke).
func (b *base) err(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	switch {
	case st.Code() == codes.Unimplemented:
		return &NotImplementedError{Plugin: b.Name(), Method: method}
	case st.Code() == codes.Unknown:
		return fmt.Errorf("%s: %s: %w", b.Name(), method, errors.New(st.Message()))
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %s: %w", b.Name(), method, ctx.Err())
	case b.transport != nil:
		return b.transport(method, err)
	}
	return fmt.Errorf("%s: %s: %w", b.Name(), method, err)
}

func capabilities(ctx context.Context, b *base, call func(context.Context, *pb.Empty, ...grpc.CallOption) (*pb.CapabilitiesResponse, error)) ([]string, error) {
	r, err := call(ctx, &pb.Empty{})
	if err != nil {
		return nil, b.err(ctx, "Capabilities", err)
	}
	return r.GetNames(), nil
}

func schemaCall(ctx context.Context, b *base, call func(context.Context, *pb.Empty, ...grpc.CallOption) (*pb.SchemaResponse, error)) (sdk.Schema, error) {
	r, err := call(ctx, &pb.Empty{})
	if err != nil {
		return sdk.Schema{}, b.err(ctx, "Schema", err)
	}
	s, err := SchemaFromProto(r)
	if err != nil {
		return sdk.Schema{}, fmt.Errorf("%s: Schema: %w", b.Name(), err)
	}
	return s, nil
}

func configureCall(ctx context.Context, b *base, cfg sdk.Config, call func(context.Context, *pb.ConfigureRequest, ...grpc.CallOption) (*pb.Empty, error)) error {
	_, err := call(ctx, &pb.ConfigureRequest{ConfigJson: cfg})
	return b.err(ctx, "Configure", err)
}

func validateConfigCall(ctx context.Context, b *base, cfg sdk.Config, call func(context.Context, *pb.ConfigureRequest, ...grpc.CallOption) (*pb.ValidateConfigResponse, error)) ([]sdk.ConfigError, error) {
	r, err := call(ctx, &pb.ConfigureRequest{ConfigJson: cfg})
	if err != nil {
		return nil, b.err(ctx, "ValidateConfig", err)
	}
	var out []sdk.ConfigError
	for _, e := range r.GetErrors() {
		out = append(out, sdk.ConfigError{Attribute: e.GetAttribute(), Message: e.GetMessage()})
	}
	return out, nil
}

// ToolClient is the host's view of a tool plugin. It implements sdk.Tool and
// every optional tool interface; a method whose interface the plugin lacks
// returns a *NotImplementedError (ask Capabilities first).
type ToolClient struct {
	base
	c pb.ToolClient
}

// NewToolClient wraps a connection to a tool plugin.
func NewToolClient(conn grpc.ClientConnInterface) *ToolClient {
	return &ToolClient{c: pb.NewToolClient(conn)}
}

var (
	_ sdk.Tool                = (*ToolClient)(nil)
	_ sdk.ToolWithBatch       = (*ToolClient)(nil)
	_ sdk.ToolWithDemonstrate = (*ToolClient)(nil)
)

// Capabilities lists the optional interfaces the plugin implements.
// ValidateConfig implements sdk.ConfigValidator.
func (t *ToolClient) ValidateConfig(ctx context.Context, cfg sdk.Config) ([]sdk.ConfigError, error) {
	return validateConfigCall(ctx, &t.base, cfg, t.c.ValidateConfig)
}

func (t *ToolClient) Capabilities(ctx context.Context) ([]string, error) {
	return capabilities(ctx, &t.base, t.c.Capabilities)
}

// Schema implements sdk.Plugin.
func (t *ToolClient) Schema(ctx context.Context) (sdk.Schema, error) {
	return schemaCall(ctx, &t.base, t.c.Schema)
}

// Configure implements sdk.Plugin.
func (t *ToolClient) Configure(ctx context.Context, cfg sdk.Config) error {
	return configureCall(ctx, &t.base, cfg, t.c.Configure)
}

// Reset implements sdk.Tool.
func (t *ToolClient) Reset(ctx context.Context, req sdk.ResetRequest) (sdk.ResetResponse, error) {
	r, err := t.c.Reset(ctx, &pb.ResetRequest{Task: TaskToProto(req.Task)})
	if err != nil {
		return sdk.ResetResponse{}, t.err(ctx, "Reset", err)
	}
	return ResetResponseFromProto(r), nil
}

// Step implements sdk.Tool.
func (t *ToolClient) Step(ctx context.Context, req sdk.StepRequest) (sdk.StepResponse, error) {
	r, err := t.c.Step(ctx, StepRequestToProto(req))
	if err != nil {
		return sdk.StepResponse{}, t.err(ctx, "Step", err)
	}
	return sdk.StepResponse{Observation: ObservationFromProto(r.GetObservation())}, nil
}

// Close implements sdk.Tool.
func (t *ToolClient) Close(ctx context.Context, session string) error {
	_, err := t.c.Close(ctx, &pb.CloseRequest{Session: session})
	return t.err(ctx, "Close", err)
}

// StepBatch implements sdk.ToolWithBatch.
func (t *ToolClient) StepBatch(ctx context.Context, reqs []sdk.StepRequest) ([]sdk.StepResponse, error) {
	in := &pb.StepBatchRequest{}
	for _, r := range reqs {
		in.Requests = append(in.Requests, StepRequestToProto(r))
	}
	r, err := t.c.StepBatch(ctx, in)
	if err != nil {
		return nil, t.err(ctx, "StepBatch", err)
	}
	if len(r.GetResponses()) != len(reqs) {
		return nil, fmt.Errorf("%s: StepBatch: %d responses for %d requests", t.Name(), len(r.GetResponses()), len(reqs))
	}
	out := make([]sdk.StepResponse, len(reqs))
	for i, s := range r.GetResponses() {
		out[i] = sdk.StepResponse{Observation: ObservationFromProto(s.GetObservation())}
	}
	return out, nil
}

// Demonstrate implements sdk.ToolWithDemonstrate.
func (t *ToolClient) Demonstrate(ctx context.Context, req sdk.DemonstrateRequest) ([]sdk.Demonstration, error) {
	r, err := t.c.Demonstrate(ctx, &pb.DemonstrateRequest{Task: TaskToProto(req.Task), Seed: req.Seed, N: int32(req.N), Verbatim: req.Verbatim,
		Continuation: req.Continuation, After: req.After})
	if err != nil {
		return nil, t.err(ctx, "Demonstrate", err)
	}
	var out []sdk.Demonstration
	for _, d := range r.GetDemonstrations() {
		out = append(out, DemonstrationFromProto(d))
	}
	return out, nil
}

// RewardClient is the host's view of a reward plugin. It implements
// sdk.Reward and sdk.RewardWithBatch.
type RewardClient struct {
	base
	c pb.RewardClient
}

// NewRewardClient wraps a connection to a reward plugin.
func NewRewardClient(conn grpc.ClientConnInterface) *RewardClient {
	return &RewardClient{c: pb.NewRewardClient(conn)}
}

var (
	_ sdk.Reward          = (*RewardClient)(nil)
	_ sdk.RewardWithBatch = (*RewardClient)(nil)
)

// Capabilities lists the optional interfaces the plugin implements.
// ValidateConfig implements sdk.ConfigValidator.
func (r *RewardClient) ValidateConfig(ctx context.Context, cfg sdk.Config) ([]sdk.ConfigError, error) {
	return validateConfigCall(ctx, &r.base, cfg, r.c.ValidateConfig)
}

func (r *RewardClient) Capabilities(ctx context.Context) ([]string, error) {
	return capabilities(ctx, &r.base, r.c.Capabilities)
}

// Schema implements sdk.Plugin.
func (r *RewardClient) Schema(ctx context.Context) (sdk.Schema, error) {
	return schemaCall(ctx, &r.base, r.c.Schema)
}

// Configure implements sdk.Plugin.
func (r *RewardClient) Configure(ctx context.Context, cfg sdk.Config) error {
	return configureCall(ctx, &r.base, cfg, r.c.Configure)
}

// Score implements sdk.Reward.
func (r *RewardClient) Score(ctx context.Context, t sdk.Transition) (sdk.Score, error) {
	s, err := r.c.Score(ctx, TransitionToProto(t))
	if err != nil {
		return sdk.Score{}, r.err(ctx, "Score", err)
	}
	return ScoreFromProto(s), nil
}

// ScoreBatch implements sdk.RewardWithBatch.
func (r *RewardClient) ScoreBatch(ctx context.Context, ts []sdk.Transition) ([]sdk.Score, error) {
	in := &pb.ScoreBatchRequest{}
	for _, t := range ts {
		in.Transitions = append(in.Transitions, TransitionToProto(t))
	}
	s, err := r.c.ScoreBatch(ctx, in)
	if err != nil {
		return nil, r.err(ctx, "ScoreBatch", err)
	}
	if len(s.GetScores()) != len(ts) {
		return nil, fmt.Errorf("%s: ScoreBatch: %d scores for %d transitions", r.Name(), len(s.GetScores()), len(ts))
	}
	out := make([]sdk.Score, len(ts))
	for i, sc := range s.GetScores() {
		out[i] = ScoreFromProto(sc)
	}
	return out, nil
}

// ModelClient is the host's view of a model plugin. It implements sdk.Model,
// sdk.ModelWithTraining and sdk.ModelWithCheckpoints.
type ModelClient struct {
	base
	c pb.ModelClient
}

// NewModelClient wraps a connection to a model plugin.
func NewModelClient(conn grpc.ClientConnInterface) *ModelClient {
	return &ModelClient{c: pb.NewModelClient(conn)}
}

var (
	_ sdk.Model                = (*ModelClient)(nil)
	_ sdk.ModelWithTraining    = (*ModelClient)(nil)
	_ sdk.ModelWithCheckpoints = (*ModelClient)(nil)
)

// Capabilities lists the optional interfaces the plugin implements.
// ValidateConfig implements sdk.ConfigValidator.
func (m *ModelClient) ValidateConfig(ctx context.Context, cfg sdk.Config) ([]sdk.ConfigError, error) {
	return validateConfigCall(ctx, &m.base, cfg, m.c.ValidateConfig)
}

func (m *ModelClient) Capabilities(ctx context.Context) ([]string, error) {
	return capabilities(ctx, &m.base, m.c.Capabilities)
}

// Schema implements sdk.Plugin.
func (m *ModelClient) Schema(ctx context.Context) (sdk.Schema, error) {
	return schemaCall(ctx, &m.base, m.c.Schema)
}

// Configure implements sdk.Plugin.
func (m *ModelClient) Configure(ctx context.Context, cfg sdk.Config) error {
	return configureCall(ctx, &m.base, cfg, m.c.Configure)
}

// Generate implements sdk.Model.
func (m *ModelClient) Generate(ctx context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	r, err := m.c.Generate(ctx, GenerateRequestToProto(req))
	if err != nil {
		return sdk.GenerateResponse{}, m.err(ctx, "Generate", err)
	}
	return GenerateResponseFromProto(r), nil
}

// Info implements sdk.Model.
func (m *ModelClient) Info(ctx context.Context) (sdk.ModelInfo, error) {
	r, err := m.c.Info(ctx, &pb.Empty{})
	if err != nil {
		return sdk.ModelInfo{}, m.err(ctx, "Info", err)
	}
	return ModelInfoFromProto(r), nil
}

// FitTokenizer implements sdk.ModelWithTraining.
func (m *ModelClient) FitTokenizer(ctx context.Context, corpus []string) error {
	_, err := m.c.FitTokenizer(ctx, &pb.FitTokenizerRequest{Corpus: corpus})
	return m.err(ctx, "FitTokenizer", err)
}

// TrainSupervised implements sdk.ModelWithTraining.
func (m *ModelClient) TrainSupervised(ctx context.Context, b sdk.SupervisedBatch) (sdk.TrainStats, error) {
	r, err := m.c.TrainSupervised(ctx, SupervisedBatchToProto(b))
	if err != nil {
		return sdk.TrainStats{}, m.err(ctx, "TrainSupervised", err)
	}
	return TrainStatsFromProto(r), nil
}

// TrainPolicy implements sdk.ModelWithTraining.
func (m *ModelClient) TrainPolicy(ctx context.Context, b sdk.PolicyBatch) (sdk.TrainStats, error) {
	r, err := m.c.TrainPolicy(ctx, PolicyBatchToProto(b))
	if err != nil {
		return sdk.TrainStats{}, m.err(ctx, "TrainPolicy", err)
	}
	return TrainStatsFromProto(r), nil
}

// Logprobs implements sdk.ModelWithTraining.
func (m *ModelClient) Logprobs(ctx context.Context, req sdk.LogprobsRequest) (sdk.LogprobsResponse, error) {
	r, err := m.c.Logprobs(ctx, &pb.LogprobsRequest{Examples: PolicyExamplesToProto(req.Examples)})
	if err != nil {
		return sdk.LogprobsResponse{}, m.err(ctx, "Logprobs", err)
	}
	return LogprobsResponseFromProto(r), nil
}

// Save implements sdk.ModelWithCheckpoints.
func (m *ModelClient) Save(ctx context.Context, dir string) error {
	_, err := m.c.Save(ctx, &pb.CheckpointRequest{Dir: dir})
	return m.err(ctx, "Save", err)
}

// Load implements sdk.ModelWithCheckpoints.
func (m *ModelClient) Load(ctx context.Context, dir string) error {
	_, err := m.c.Load(ctx, &pb.CheckpointRequest{Dir: dir})
	return m.err(ctx, "Load", err)
}
