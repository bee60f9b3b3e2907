package builtin

import (
	"github.com/lathe-ml/lathe/plugins/tests"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(Entry{
		Name:        "tests",
		Kind:        sdk.KindReward,
		Description: "reward: +1 when the tests first pass, -0.5 per malformed action or missing EXIT",
		NewReward:   func() sdk.Reward { return tests.New() },
	})
}
