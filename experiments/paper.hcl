# The paper's comparison on MBPP: Chain-of-Edits against a direct answer at
# the same model size, after SFT and after SFT+RL, pass@1 and pass@4 on
# MBPP's test split, and success as a function of the turn budget.
#
#   lathe run experiments/paper.hcl -var datasets=/path/to/datasets
#
# The defaults are sized to finish in about an hour on 2 CPU cores (a
# 2-layer, 128-wide model; 1200 SFT steps; 20 GRPO steps; 4 samples per
# test task). At that size the model learns the command format only in
# part, so expect pass rates near zero. The scale the paper's comparison
# calls for is many hours of CPU, or a GPU:
#
#   lathe run experiments/paper.hcl -var layers=6 -var d_model=256 \
#     -var per_task=50 -var sft_steps=2000 -var rl_steps=200 -var samples=8
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
  default = 1200
}

variable "rl_steps" {
  type    = number
  default = 20
}

variable "per_task" {
  type        = number
  default     = 10
  description = "Synthetic demonstrations per MBPP train task and tool."
}

variable "samples" {
  type        = number
  default     = 4
  description = "Samples per test task for the pass@k estimates (at least the largest k)."
}

variable "eval_tasks" {
  type        = number
  default     = 0
  description = "Test tasks evaluated (0: all 500 of MBPP's test split)."
}

variable "pretrained" {
  type        = string
  default     = null
  description = "A pretraining run's stage directory (experiments/pretrain.hcl: runs/pretrain/<time>/stages/lm) both SFT stages start from; unset, they start from scratch."
}

variable "layers" {
  type    = number
  default = 2
}

variable "d_model" {
  type    = number
  default = 128
}

dataset "mbpp" {
  source = "mbpp:${var.datasets}/mbpp/mbpp.jsonl"
}

tool "editor" {
  plugin            = "coedit"
  max_turns         = 10
  timeout_s         = 3
  show_instructions = false
}

# The direct-answer baseline: the same tests and feedback, one action that is
# the whole program. Only the tool differs between the two arms.
tool "direct" {
  plugin            = "rewrite"
  timeout_s         = 3
  show_instructions = false
}

reward "solved" {
  plugin = "tests"
}

# The copy head: a model trained from scratch on a CPU copies what it reads
# (line numbers, names, lines) only with it (README, "The copy head").
model "policy" {
  plugin       = "transformer"
  layers       = var.layers
  d_model      = var.d_model
  heads        = 4
  context      = 1024
  vocab        = 2048
  space_tokens = true
  copy         = true
}

stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.mbpp
  split    = "train"
  per_task = var.per_task
}

stage "demos_direct" {
  kind     = "synthesize"
  tool     = tool.direct
  dataset  = dataset.mbpp
  split    = "train"
  per_task = var.per_task
}

stage "sft" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos
  init         = var.pretrained
  steps        = var.sft_steps
  batch_size   = 16
  context_loss = 0.5
}

stage "sft_direct" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos_direct
  init         = var.pretrained
  steps        = var.sft_steps
  batch_size   = 16
  context_loss = 0.5
}

# RL from each SFT checkpoint (also the frozen KL reference), with the
# paper's defaults: G = 4, clip 0.2, KL 0.01, +1 at the first pass, -0.5 for
# a malformed command or a missing EXIT.
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
  max_tokens     = 96
  lr             = 3e-4
}

stage "rl_direct" {
  kind           = "grpo"
  model          = model.policy
  tool           = tool.direct
  reward         = reward.solved
  dataset        = dataset.mbpp
  init           = stage.sft_direct
  steps          = var.rl_steps
  group          = 4
  tasks_per_step = 8
  max_tokens     = 384
  lr             = 3e-4
}

eval "coe" {
  model        = model.policy
  tool         = tool.editor
  dataset      = dataset.mbpp
  split        = "test"
  checkpoints  = [stage.sft, stage.rl]
  k            = [1, 4]
  samples      = var.samples
  max_tokens   = 96
  max_tasks    = var.eval_tasks
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
  max_tokens  = 384
  max_tasks   = var.eval_tasks
}
