package pluginhost

import (
	"slices"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// The gRPC clients of package pluginclient implement every optional
// interface of their kind and answer a missing one with ErrNotImplemented.
// What an Instance hands out implements exactly the optional interfaces
// the plugin advertised when it started, so a type assertion such as
// tool.(sdk.ToolWithBatch) is the whole capability check: it fails for a
// plugin without StepBatch instead of succeeding and failing at the call.
// (sdk.ConfigValidator is asked for through Instance.ConfigValidator: it is
// the host's check of a block, not part of what stages use.)

type (
	toolOnly  struct{ sdk.Tool }
	toolBatch struct {
		sdk.Tool
		sdk.ToolWithBatch
	}
	toolDemonstrate struct {
		sdk.Tool
		sdk.ToolWithDemonstrate
	}
	toolBatchDemonstrate struct {
		sdk.Tool
		sdk.ToolWithBatch
		sdk.ToolWithDemonstrate
	}
	rewardOnly  struct{ sdk.Reward }
	rewardBatch struct {
		sdk.Reward
		sdk.RewardWithBatch
	}
	modelOnly     struct{ sdk.Model }
	modelTraining struct {
		sdk.Model
		sdk.ModelWithTraining
	}
	modelCheckpoints struct {
		sdk.Model
		sdk.ModelWithCheckpoints
	}
	modelTrainingCheckpoints struct {
		sdk.Model
		sdk.ModelWithTraining
		sdk.ModelWithCheckpoints
	}
)

func narrowTool(c *pluginclient.ToolClient, caps []string) sdk.Tool {
	batch := slices.Contains(caps, pluginclient.CapToolWithBatch)
	demonstrate := slices.Contains(caps, pluginclient.CapToolWithDemonstrate)
	switch {
	case batch && demonstrate:
		return toolBatchDemonstrate{c, c, c}
	case batch:
		return toolBatch{c, c}
	case demonstrate:
		return toolDemonstrate{c, c}
	}
	return toolOnly{c}
}

func narrowReward(c *pluginclient.RewardClient, caps []string) sdk.Reward {
	if slices.Contains(caps, pluginclient.CapRewardWithBatch) {
		return rewardBatch{c, c}
	}
	return rewardOnly{c}
}

func narrowModel(c *pluginclient.ModelClient, caps []string) sdk.Model {
	training := slices.Contains(caps, pluginclient.CapModelWithTraining)
	checkpoints := slices.Contains(caps, pluginclient.CapModelWithCheckpoints)
	switch {
	case training && checkpoints:
		return modelTrainingCheckpoints{c, c, c}
	case training:
		return modelTraining{c, c}
	case checkpoints:
		return modelCheckpoints{c, c}
	}
	return modelOnly{c}
}
