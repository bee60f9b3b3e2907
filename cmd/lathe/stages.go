package main

// The stage kinds (synthesize, sft, grpo, eval) register themselves with
// the runner when their package is linked in.
import _ "github.com/lathe-ml/lathe/core/stages"
