package builtin

import (
	"github.com/lathe-ml/lathe/plugins/transformer"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(Entry{
		Name:        "transformer",
		Kind:        sdk.KindModel,
		Description: "model: small decoder-only transformer with a byte-level BPE tokenizer, trained on CPU (" + transformer.Backend() + ")",
		NewModel:    func() sdk.Model { return transformer.New() },
	})
}
