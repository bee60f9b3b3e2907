# The paper's comparison on MBPP: Chain-of-Edits against a direct answer at
# the same model size, after SFT and after SFT+RL, pass@1 and pass@4 on
# MBPP's test split, and success as a function of the turn budget.
#
#   lathe run experiments/paper.hcl -var datasets=/path/to/datasets
#
# MBPP is read from ${var.datasets}/mbpp/mbpp.jsonl (official splits: tasks
# 11-510 test, 511-600 validation, 601-974 train).

experiment "paper" {
  seed        = 1
  description = "MBPP: CoE vs direct answer, SFT and SFT+GRPO"
}

variable "datasets" {
  type        = string
  default     = "../shared/datasets"
  description = "Directory holding mbpp/mbpp.jsonl."
}

variable "sft_steps" {
  type    = number
  default = 2000
}

variable "rl_steps" {
  type    = number
  default = 200
}

variable "samples" {
  type        = number
  default     = 8
  description = "Samples per test task for the pass@k estimates."
}

dataset "mbpp" {
  source = "mbpp:${var.datasets}/mbpp/mbpp.jsonl"
}

tool "editor" {
  plugin    = "coedit"
  max_turns = 10
}

tool "direct" {
  plugin = "rewrite"
}

reward "solved" {
  plugin = "tests"
}

model "policy" {
  plugin  = "transformer"
  layers  = 6
  d_model = 256
  heads   = 8
  context = 1024
  vocab   = 2048
}

stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.mbpp
  split    = "train"
  per_task = 50
}

stage "demos_direct" {
  kind     = "synthesize"
  tool     = tool.direct
  dataset  = dataset.mbpp
  split    = "train"
  per_task = 50
}

stage "sft" {
  kind       = "sft"
  model      = model.policy
  data       = stage.demos
  steps      = var.sft_steps
  batch_size = 16
}

stage "sft_direct" {
  kind       = "sft"
  model      = model.policy
  data       = stage.demos_direct
  steps      = var.sft_steps
  batch_size = 16
}

stage "rl" {
  kind           = "grpo"
  model          = model.policy
  tool           = tool.editor
  reward         = reward.solved
  dataset        = dataset.mbpp
  init           = stage.sft
  steps          = var.rl_steps
  group          = 4
  tasks_per_step = 8
  clip           = 0.2
  kl             = 0.01
}

stage "rl_direct" {
  kind    = "grpo"
  model   = model.policy
  tool    = tool.direct
  reward  = reward.solved
  dataset = dataset.mbpp
  init    = stage.sft_direct
  steps   = var.rl_steps
  group   = 4
}

eval "coe" {
  model        = model.policy
  tool         = tool.editor
  dataset      = dataset.mbpp
  split        = "test"
  checkpoints  = [stage.sft, stage.rl]
  k            = [1, 4]
  samples      = var.samples
  turn_budgets = [1, 2, 3, 4, 6, 8, 10]
}

eval "direct" {
  model       = model.policy
  tool        = tool.direct
  dataset     = dataset.mbpp
  split       = "test"
  checkpoints = [stage.sft_direct, stage.rl_direct]
  k           = [1, 4]
  samples     = var.samples
}
