package wire

import (
	"context"

	"github.com/lathe-ml/lathe/sdk"
)

type batchReward struct{}

func (batchReward) ScoreBatch(context.Context, []sdk.Transition) ([]sdk.Score, error) {
	return nil, nil
}

type fullModel struct{}

func (fullModel) FitTokenizer(context.Context, []string) error { return nil }
func (fullModel) TrainSupervised(context.Context, sdk.SupervisedBatch) (sdk.TrainStats, error) {
	return sdk.TrainStats{}, nil
}
func (fullModel) TrainPolicy(context.Context, sdk.PolicyBatch) (sdk.TrainStats, error) {
	return sdk.TrainStats{}, nil
}
func (fullModel) Logprobs(context.Context, sdk.LogprobsRequest) (sdk.LogprobsResponse, error) {
	return sdk.LogprobsResponse{}, nil
}
func (fullModel) Save(context.Context, string) error { return nil }
func (fullModel) Load(context.Context, string) error { return nil }
