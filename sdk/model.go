package sdk

import "context"

// Sampling controls generation.
type Sampling struct {
	// Temperature 0 means greedy decoding.
	Temperature float64
	// TopP in (0,1] keeps the smallest set of tokens whose probability
	// reaches TopP; 0 or 1 disables it.
	TopP      float64
	MaxTokens int
	// Stop ends a completion when the generated text contains one of these
	// strings; the stop string is kept in the completion.
	Stop []string
	Seed int64
	// Seeds, when it holds one seed per context, gives context i a sampler
	// seeded by Seeds[i] alone, so what it draws does not depend on which
	// other contexts share the call or where it stands among them (the
	// rollout engine sets it, so batching and overlap leave results
	// alone). Unset, context i is seeded by (Seed, i).
	Seeds []int64
}

// GenerateRequest asks for one completion per context.
type GenerateRequest struct {
	Contexts []string
	// Messages, when set, holds each context as the turns it was rendered
	// from (Messages[i] for Contexts[i]), for models that take a chat
	// rather than one text: see Message. Models that read text ignore it;
	// hosts that have no turns (a single prompt) leave it empty.
	Messages [][]Message
	Sampling Sampling
}

// The roles of a Message.
const (
	// RoleUser is what the tool showed: its prompt and its states.
	RoleUser = "user"
	// RoleAssistant is an action the model wrote.
	RoleAssistant = "assistant"
)

// Message is one turn of an episode as a chat model sees it. An episode's
// first message is a user message holding the tool's prompt and first
// state; then every action is an assistant message (without the stop
// string that ended it) followed by a user message holding the state it
// led to. The list ends with a user message: the model's reply is the
// next action.
type Message struct {
	Role    string
	Content string
}

// Completion is one generated continuation.
type Completion struct {
	Text string
	// Tokens are the model's token ids of Text, opaque to the host; pass
	// them back in PolicyExample so training scores exactly these tokens.
	Tokens []int32
	// Logprobs holds the log-probability of each token under the sampling
	// distribution's underlying model (before temperature/top-p).
	Logprobs []float64
	// StopReason is "stop", "length" (MaxTokens) or "context" (the model's
	// context window was full).
	StopReason string
}

// GenerateResponse holds one completion per context, in order.
type GenerateResponse struct {
	Completions []Completion
}

// ModelInfo describes a model instance.
type ModelInfo struct {
	Name       string
	Parameters int64
	Context    int // tokens
	Vocab      int
	Device     string
	Backend    string // e.g. "gorgonia+openblas"
	// WholeEpisodes reports that TrainSupervised trains an example's Turns
	// as one sequence. Hosts send per-turn examples to models without it,
	// so a plugin built before Turns existed still learns every turn.
	WholeEpisodes bool
}

// Model generates text. Models own their tokenizer; text is the boundary.
type Model interface {
	Plugin
	Generate(ctx context.Context, req GenerateRequest) (GenerateResponse, error)
	Info(ctx context.Context) (ModelInfo, error)
}

// SupervisedExample is a context and the target the model should produce
// after it. Loss is taken on Target's tokens only.
type SupervisedExample struct {
	Context string
	Target  string
	// Turns continue the same sequence after Target: a whole episode is
	// one example, each context read once and the loss on every target.
	// Only models whose ModelInfo.WholeEpisodes is set receive Turns. A
	// model may cut a sequence that outgrows its window into pieces, each
	// target keeping the context it would have at generation.
	Turns []SupervisedTurn
}

// SupervisedTurn is one later (context, target) pair of a SupervisedExample.
type SupervisedTurn struct {
	Context string
	Target  string
}

// SupervisedBatch is one optimizer step of supervised training.
type SupervisedBatch struct {
	Examples []SupervisedExample
	// Step and TotalSteps place this step in the learning-rate schedule.
	Step       int
	TotalSteps int
	// LearningRate, when positive, is the peak of the schedule for this
	// run of steps instead of the model's configured rate (a stage can
	// fine-tune more gently than it pre-trained).
	LearningRate float64
	// ContextWeight, when positive, adds next-token loss on the context
	// tokens (what the model reads) at this weight relative to a target
	// token: an auxiliary language-modelling signal, e.g. on tool states
	// that repeat across turns. The reported Loss stays targets only.
	ContextWeight float64
}

// PolicyExample is one completion to reinforce (or discourage).
type PolicyExample struct {
	Context    string
	Completion string
	// Tokens are the completion's token ids from Generate; when empty the
	// model tokenizes Completion itself.
	Tokens []int32
	// Advantage is applied to every token of the completion.
	Advantage float64
	// OldLogprobs are the per-token log-probs under the policy that sampled
	// the completion (for the PPO ratio); RefLogprobs under the frozen
	// reference model (for the KL penalty). Either may be empty.
	OldLogprobs []float64
	RefLogprobs []float64
}

// PolicyBatch is one optimizer step of policy-gradient training.
type PolicyBatch struct {
	Examples   []PolicyExample
	ClipEps    float64 // PPO clip range, e.g. 0.2
	KLCoef     float64 // weight of the KL-to-reference penalty, e.g. 0.01
	Step       int
	TotalSteps int
	// LearningRate, when positive, is the peak of the schedule instead of
	// the model's configured rate (RL usually wants a smaller one than SFT).
	LearningRate float64
}

// TrainStats reports one optimizer step.
type TrainStats struct {
	Loss    float64
	Tokens  int // target tokens that carried loss
	Metrics map[string]float64
}

// LogprobsRequest asks for the per-token log-probs of each completion
// after its context.
type LogprobsRequest struct {
	Examples []PolicyExample // Context, Completion and Tokens are used
}

// LogprobsResponse holds one slice of per-token log-probs per example.
type LogprobsResponse struct {
	Logprobs [][]float64
}

// ModelWithTraining is a model that can be trained. Inference-only models
// do not implement it and `lathe validate` says so before a run starts.
type ModelWithTraining interface {
	// FitTokenizer trains the model's tokenizer on a corpus before the first
	// training step; a model loaded from a checkpoint keeps its tokenizer.
	FitTokenizer(ctx context.Context, corpus []string) error
	TrainSupervised(ctx context.Context, batch SupervisedBatch) (TrainStats, error)
	TrainPolicy(ctx context.Context, batch PolicyBatch) (TrainStats, error)
	Logprobs(ctx context.Context, req LogprobsRequest) (LogprobsResponse, error)
}

// ModelWithCheckpoints saves and restores everything needed to continue
// training bit for bit: weights, optimizer state, tokenizer, config and RNG.
type ModelWithCheckpoints interface {
	Save(ctx context.Context, dir string) error
	Load(ctx context.Context, dir string) error
}
