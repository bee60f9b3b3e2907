# DAgger against more of the same: from one trained Chain-of-Edits
# checkpoint (another run's, -var init=...), SFT goes on for the same
# number of steps twice, once on the synthetic demonstrations alone and
# once on those plus the expert's continuations of the checkpoint's own
# episodes (stage "relabel", kind dagger), and all three are evaluated on
# the same held-out and training tasks. The tool and model blocks must be
# those the checkpoint was trained with: these are experiments/ablation.hcl's
# at its defaults (all operators, up to 5 corruptions, 8 demonstrations per
# task to match -var per_task=8). About 25 minutes on 2 cores.
#
#   lathe run experiments/ablation.hcl -var per_task=8 -var steps=3200
#   lathe run experiments/dagger.hcl -var init=runs/ablation/<time>/stages/sft

experiment "dagger" {
  seed        = var.seed
  description = "SFT on the policy's own states (DAgger) against SFT on demonstrations alone"
}

variable "init" {
  type        = string
  default     = "runs/ablation/LATEST/stages/sft"
  description = "The stage directory of the trained checkpoint to start from."
}

variable "seed" {
  type    = number
  default = 7
}

variable "steps" {
  type        = number
  default     = 1600
  description = "SFT steps of each arm."
}

variable "lr" {
  type        = number
  default     = 1e-3
  description = "Peak learning rate of each arm (warmup and cosine again from the checkpoint)."
}

variable "per_task" {
  type    = number
  default = 8
}

variable "plays" {
  type        = number
  default     = 4
  description = "Episodes the checkpoint plays per training task, each on its own broken program."
}

variable "operators" {
  type    = list(string)
  default = []
}

variable "max_corruptions" {
  type    = number
  default = 5
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

stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.basic
  per_task = var.per_task
}

stage "relabel" {
  kind        = "dagger"
  model       = model.policy
  init        = var.init
  tool        = tool.editor
  dataset     = dataset.basic
  per_task    = var.plays
  temperature = 0.8
  history     = "last"
  max_tokens  = 48
}

stage "sft_more" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos
  init         = var.init
  steps        = var.steps
  batch_size   = 8
  history      = "last"
  context_loss = 0.5
  lr           = var.lr
}

stage "sft_dagger" {
  kind         = "sft"
  model        = model.policy
  data         = [stage.demos, stage.relabel]
  init         = var.init
  steps        = var.steps
  batch_size   = 8
  history      = "last"
  context_loss = 0.5
  lr           = var.lr
}

eval "test" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "test"
  checkpoints = [var.init, stage.sft_more, stage.sft_dagger]
  k           = [1, 4]
  history     = "last"
  max_tokens  = 48
  max_tasks   = 30
}

eval "train" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "train"
  checkpoints = [var.init, stage.sft_more, stage.sft_dagger]
  k           = [1, 4]
  history     = "last"
  max_tokens  = 48
  max_tasks   = 30
}
