package sdk

import "context"

// Transition is one turn of an episode as a reward sees it.
type Transition struct {
	TaskID string
	Action string
	Before StepInfo // state before the action (Reset's info at turn 0)
	After  StepInfo // state after the action
	Turn   int      // 0-based index of this action in the episode
	Done   bool     // the episode ended with this action
	// SolvedEarlier is true when the tests passed after some earlier turn
	// of this episode (so "first pass" rewards need no state of their own).
	SolvedEarlier bool
}

// Score is a reward and its named parts (for logging).
type Score struct {
	Reward     float64
	Components map[string]float64
}

// Reward scores transitions. Rewards are per turn; a trajectory's return is
// their sum.
type Reward interface {
	Plugin
	Score(ctx context.Context, t Transition) (Score, error)
}

// RewardWithBatch scores many transitions in one call.
type RewardWithBatch interface {
	ScoreBatch(ctx context.Context, ts []Transition) ([]Score, error)
}
