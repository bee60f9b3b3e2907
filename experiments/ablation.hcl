# The ablation of the README's "The copy head, demonstrations that follow
# the feedback, mined programs": the quickstart's Chain-of-Edits arm alone
# (demonstrations, SFT, then pass@k on 30 test and 30 *training* tasks, which
# tells underfitting from poor generalisation), the levers as variables:
#
#   lathe run experiments/ablation.hcl -var per_task=16                  # row 3
#   lathe run experiments/ablation.hcl -var per_task=16 -var copy=false  # without the copy head
#   lathe run experiments/ablation.hcl -var per_task=16 -var pretrained=runs/pretrain/<time>/stages/lm  # row 5
#   lathe run experiments/ablation.hcl -var 'operators=["typo"]' -var max_corruptions=1 -var per_task=8 -var steps=3200
#       # misspelled names alone (README "Python's own Did you mean"; ~16 minutes)
#
# Rows 1-2 (reverse-order demonstrations) set demo_order = "reverse" on the
# tool; row 4 adds dataset "mined" { source = "mined:builtin:python-stdlib" },
# a second synthesize stage on it (split = "all") and data = [stage.demos,
# stage.mined_demos]. About 5 minutes at per_task = 4, 12 at 16 (2 cores).

experiment "ablation" {
  seed        = var.seed
  description = "the CoE arm alone, one lever at a time"
}

variable "seed" {
  type    = number
  default = 7
}

variable "per_task" {
  type    = number
  default = 4
}

variable "steps" {
  type    = number
  default = 800
}

variable "copy" {
  type    = bool
  default = true
}

variable "history" {
  type    = string
  default = "last"
}

variable "pretrained" {
  type    = string
  default = null
}

variable "rename" {
  type        = number
  default     = 0
  description = "Fraction of demonstrations whose reference has its own names renamed first (coedit rename)."
}

variable "operators" {
  type        = list(string)
  default     = []
  description = "Corruption operators that break programs, for demonstrations and test tasks alike (coedit operators; empty: all)."
}

variable "max_corruptions" {
  type        = number
  default     = 5
  description = "Most corruptions of one program (coedit max_corruptions)."
}

variable "layers" {
  type    = number
  default = 2
}

variable "d_model" {
  type    = number
  default = 128
}

variable "lr" {
  type        = number
  default     = 0
  description = "Peak SFT learning rate (0: the model's own, 3e-3)."
}

variable "eval_tasks" {
  type        = number
  default     = 30
  description = "Tasks of each split evaluated (0: all)."
}

variable "vocab" {
  type        = number
  default     = 1024
  description = "Tokenizer vocabulary: 256 is bytes alone (every name spelled out), more adds learned merges."
}

variable "context" {
  type    = number
  default = 512
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
  rename            = var.rename
  operators         = var.operators
  max_corruptions   = var.max_corruptions
}

model "policy" {
  plugin       = "transformer"
  layers       = var.layers
  d_model      = var.d_model
  heads        = 4
  context      = var.context
  vocab        = var.vocab
  space_tokens = true
  copy         = var.copy
}

stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.basic
  per_task = var.per_task
}

stage "sft" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos
  init         = var.pretrained
  steps        = var.steps
  batch_size   = 8
  history      = var.history
  context_loss = 0.5
  lr           = var.lr
}

eval "test" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "test"
  checkpoints = [stage.sft]
  k           = [1, 4]
  history     = var.history
  max_tokens  = 48
  max_tasks   = var.eval_tasks
}

eval "train" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "train"
  checkpoints = [stage.sft]
  k           = [1, 4]
  history     = var.history
  max_tokens  = 48
  max_tasks   = var.eval_tasks
}
