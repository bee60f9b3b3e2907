// Command echoreward is a test plugin built from source by the pluginhost
// tests: a reward that pays len(Action) and implements no optional interface.
package main

import (
	"context"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/serve"
)

type echo struct{}

func (echo) Schema(context.Context) (sdk.Schema, error) {
	return sdk.Schema{Description: "pays the action's length", Attributes: []sdk.Attribute{
		{Name: "scale", Type: "number", Default: 1.0},
	}}, nil
}

func (echo) Configure(context.Context, sdk.Config) error { return nil }

func (echo) Score(_ context.Context, t sdk.Transition) (sdk.Score, error) {
	serve.Logger().Info("scoring", "action", t.Action)
	return sdk.Score{Reward: float64(len(t.Action))}, nil
}

func main() { serve.Reward(echo{}) }
