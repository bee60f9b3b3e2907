package builtin

import (
	"github.com/lathe-ml/lathe/plugins/openai"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(Entry{
		Name:        openai.Name,
		Kind:        sdk.KindModel,
		Description: "model: any model served over the OpenAI HTTP API (vLLM, SGLang, llama.cpp, Ollama, lathe serve); inference only",
		NewModel:    func() sdk.Model { return openai.New() },
	})
}
