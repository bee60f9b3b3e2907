// Command testsreward serves the built-in tests reward as a standalone
// plugin binary, for sdktest's real-process tests and benchmark.
package main

import (
	"github.com/lathe-ml/lathe/plugins/tests"
	"github.com/lathe-ml/lathe/sdk/serve"
)

func main() { serve.Reward(tests.New()) }
