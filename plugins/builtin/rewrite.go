package builtin

import (
	"github.com/lathe-ml/lathe/plugins/rewrite"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(Entry{
		Name:        rewrite.Name,
		Kind:        sdk.KindTool,
		Description: "tool: direct answer, repair Python by writing the whole program once (the paper's baseline)",
		NewTool:     func() sdk.Tool { return rewrite.New() },
	})
}
