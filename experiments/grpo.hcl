# GRPO from a trained checkpoint of another run, and an eval of the result:
# the reward and RL settings as variables, everything else as the run that
# trained the checkpoint (its tool options, the quickstart-sized model).
# The eval plays the checkpoint before and after GRPO on the same held-out
# tasks, broken the same way.
#
#   lathe run experiments/grpo.hcl -var init=runs/typo/<time>/stages/sft \
#       -var 'operators=["typo"]' -var max_corruptions=1
#   lathe run experiments/grpo.hcl -var init=runs/ablation/<time>/stages/sft -var progress=1

experiment "grpo" {
  seed        = var.seed
  description = "GRPO from a checkpoint, one reward setting"
}

variable "init" {
  type        = string
  default     = "runs/typo/LATEST/stages/sft"
  description = "The stage directory of a trained Chain-of-Edits checkpoint (runs/<name>/<time>/stages/sft)."
}

variable "seed" {
  type    = number
  default = 7
}

variable "steps" {
  type    = number
  default = 100
}

variable "lr" {
  type    = number
  default = 1e-4
}

variable "group" {
  type    = number
  default = 8
}

variable "progress" {
  type        = number
  default     = 0
  description = "progress_reward of the tests reward: weight of the change in the share of tests passed (0: the paper's reward)."
}

variable "operators" {
  type    = list(string)
  default = []
}

variable "max_corruptions" {
  type    = number
  default = 5
}

variable "eval_tasks" {
  type    = number
  default = 0
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
  operators         = var.operators
  max_corruptions   = var.max_corruptions
}

reward "solved" {
  plugin          = "tests"
  progress_reward = var.progress
}

model "policy" {
  plugin       = "transformer"
  layers       = 2
  d_model      = 128
  heads        = 4
  context      = 512
  vocab        = 1024
  space_tokens = true
  copy         = true
}

stage "rl" {
  kind           = "grpo"
  model          = model.policy
  tool           = tool.editor
  reward         = reward.solved
  dataset        = dataset.basic
  init           = var.init
  steps          = var.steps
  group          = var.group
  tasks_per_step = 4
  history        = "last"
  max_tokens     = 48
  lr             = var.lr
}

eval "test" {
  model        = model.policy
  tool         = tool.editor
  dataset      = dataset.basic
  split        = "test"
  checkpoints  = [var.init, stage.rl]
  k            = [1, 4]
  history      = "last"
  max_tokens   = 48
  max_tasks    = var.eval_tasks
  turn_budgets = [1, 2, 4, 6]
}
