package builtin

import (
	"github.com/lathe-ml/lathe/plugins/coedit"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(Entry{
		Name:        coedit.Name,
		Kind:        sdk.KindTool,
		Description: "tool: Chain-of-Edits, repair Python one line-editing command per turn (ADDL, REPL, REPW, DELL, EXIT)",
		NewTool:     func() sdk.Tool { return coedit.New() },
	})
}
