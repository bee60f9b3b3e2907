# The paper's two comparisons on the one kind of bug the CPU-sized model
# learns to repair: misspelled names, one per program (the NameError, with
# Python's "Did you mean", names the line and usually the fix). Chain-of-
# Edits SFT, then GRPO from it; the same model trained to answer directly;
# all evaluated on every held-out built-in task, broken the same way.
# About 40 minutes on 2 cores (README "CoE against direct answer, SFT
# against GRPO, on typos").
#
#   lathe run experiments/typo.hcl
#   lathe run experiments/typo.hcl -var seed=8 -var rl_steps=200

experiment "typo" {
  seed        = var.seed
  description = "CoE vs direct, SFT vs SFT+GRPO, one misspelled name per program"
}

variable "seed" {
  type    = number
  default = 7
}

variable "sft_steps" {
  type        = number
  default     = 3200
  description = "Supervised steps of the Chain-of-Edits SFT (15 minutes)."
}

variable "direct_steps" {
  type        = number
  default     = 1600
  description = "Supervised steps of the direct-answer SFT (each target is a whole program: 10 minutes)."
}

variable "rl_steps" {
  type    = number
  default = 100
}

variable "rl_lr" {
  type    = number
  default = 1e-4
}

variable "context" {
  type        = number
  default     = 1024
  description = "Model window. The direct answer needs the prompt, the program and the whole program again: at 512 half of its held-out episodes overflowed before answering."
}

variable "per_task" {
  type    = number
  default = 8
}

dataset "basic" {
  source        = "builtin:basic"
  test_fraction = 0.2
}

tool "editor" {
  plugin            = "coedit"
  max_turns         = 6
  timeout_s         = 2
  show_instructions = false
  operators         = ["typo"]
  max_corruptions   = 1
}

tool "direct" {
  plugin            = "rewrite"
  timeout_s         = 2
  show_instructions = false
  operators         = ["typo"]
  max_corruptions   = 1
}

reward "solved" {
  plugin = "tests"
}

model "policy" {
  plugin       = "transformer"
  layers       = 2
  d_model      = 128
  heads        = 4
  context      = var.context
  vocab        = 1024
  space_tokens = true
  copy         = true
}

stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.basic
  per_task = var.per_task
}

stage "demos_direct" {
  kind     = "synthesize"
  tool     = tool.direct
  dataset  = dataset.basic
  per_task = var.per_task
}

stage "sft" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos
  steps        = var.sft_steps
  batch_size   = 8
  history      = "last"
  context_loss = 0.5
}

stage "sft_direct" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos_direct
  steps        = var.direct_steps
  batch_size   = 8
  context_loss = 0.5
}

stage "rl" {
  kind           = "grpo"
  model          = model.policy
  tool           = tool.editor
  reward         = reward.solved
  dataset        = dataset.basic
  init           = stage.sft
  steps          = var.rl_steps
  group          = 8
  tasks_per_step = 4
  history        = "last"
  max_tokens     = 48
  lr             = var.rl_lr
}

eval "coe" {
  model        = model.policy
  tool         = tool.editor
  dataset      = dataset.basic
  split        = "test"
  checkpoints  = [stage.sft, stage.rl]
  k            = [1, 4]
  history      = "last"
  max_tokens   = 48
  turn_budgets = [1, 2, 4, 6]
}

eval "coe_train" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "train"
  checkpoints = [stage.sft, stage.rl]
  k           = [1, 4]
  history     = "last"
  max_tokens  = 48
  max_tasks   = 60
}

eval "direct" {
  model       = model.policy
  tool        = tool.direct
  dataset     = dataset.basic
  split       = "test"
  checkpoints = [stage.sft_direct]
  k           = [1, 4]
  max_tokens  = 256
}
