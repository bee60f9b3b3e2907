# Quickstart: train a small transformer to repair Python with the
# Chain-of-Edits tool (SFT on synthetic demonstrations, then GRPO), train the
# same model to answer directly (the paper's baseline), and evaluate both on
# all held-out built-in tasks. The bugs are one misspelled name per program
# (the operator a model this small learns in minutes; on the full mixture,
# -var 'operators=[]' -var max_corruptions=5, it repairs next to nothing,
# README). Sized for ten minutes on 2 CPU cores (9 min 22 s for seed 7,
# most of it the CoE SFT: 1600 steps of 4 examples, which beat 800 of 8 in
# about the same time): CoE test pass@1 0.335, greedy 0.426, over seeds
# 7-9 (0.237-0.443, README). Start both SFT stages from a pretraining run
# with -var pretrained=DIR (experiments/pretrain.hcl).
#
#   lathe validate experiments/quickstart.hcl
#   lathe run experiments/quickstart.hcl -var seed=8

experiment "quickstart" {
  seed        = var.seed
  description = "CoE vs direct answer on the built-in tasks, SFT then GRPO"
}

variable "seed" {
  type        = number
  default     = 7
  description = "Seed of every stage and of the dataset split (-var seed=8 for another draw)."
}

variable "sft_steps" {
  type        = number
  default     = 1600
  description = "Supervised steps of the Chain-of-Edits SFT (4 examples each)."
}

variable "direct_steps" {
  type        = number
  default     = 60
  description = "Supervised steps of the direct-answer SFT (a step costs twice a CoE step: every target is a whole program)."
}

variable "rl_steps" {
  type        = number
  default     = 8
  description = "GRPO steps (each plays group x tasks_per_step episodes)."
}

variable "closing_turns" {
  type        = number
  default     = 0.25
  description = "Share of the CoE demonstrations whose closing EXIT is a training example (every one-typo demonstration is [fix, EXIT]; 1 keeps all, README)."
}

variable "per_task" {
  type        = number
  default     = 8
  description = "Synthetic demonstrations per training task and tool."
}

variable "turns" {
  type        = number
  default     = 6
  description = "Turn limit of the editing tool (the paper uses 10)."
}

variable "operators" {
  type        = list(string)
  default     = ["typo"]
  description = "Corruption operators of both tools ([] for all: typo, delete_line, ...; see the README)."
}

variable "max_corruptions" {
  type        = number
  default     = 1
  description = "Most corruptions per broken program."
}

variable "recovery" {
  type        = number
  default     = 0
  description = "Share of CoE demonstrations that start with their REPW on a wrong line and show the repair from the tool's error (README)."
}

variable "keep_feedback" {
  type        = bool
  default     = false
  description = "Show the test feedback under a malformed command's error as well."
}

variable "pretrained" {
  type        = string
  default     = null
  description = "A pretraining run's stage directory both SFT stages start from (lathe run experiments/pretrain.hcl -var context=512 -var vocab=1024); unset, they start from scratch."
}

variable "eval_tasks" {
  type        = number
  default     = 0
  description = "Held-out tasks evaluated (0: the whole test split)."
}

# The built-in task set ships inside the binary; the split is a hash of each
# task id, so it does not depend on file order.
dataset "basic" {
  source        = "builtin:basic"
  test_fraction = 0.2
}

# A model trained from scratch learns the commands from its demonstrations;
# leaving their description out of the prompt saves ~150 tokens a context.
tool "editor" {
  plugin            = "coedit"
  max_turns         = var.turns
  timeout_s         = 1
  show_instructions = false
  operators         = var.operators
  max_corruptions   = var.max_corruptions
  recovery          = var.recovery
  keep_feedback     = var.keep_feedback
}

# The direct-answer baseline: one action is the whole repaired program.
# Swapping the tool is the only difference between the two arms.
tool "direct" {
  plugin            = "rewrite"
  timeout_s         = 1
  show_instructions = false
  operators         = var.operators
  max_corruptions   = var.max_corruptions
}

reward "solved" {
  plugin         = "tests"
  format_penalty = -0.5
}

# Rotary positions (the default), space_tokens (a name is one token
# wherever it stands) and the copy head: each next token may be copied
# from the context, which is what most of a repair command is. The window
# must hold the direct answer's prompt, program and whole answer (up to
# 256 tokens): at 512, half of its episodes overflowed before answering.
model "policy" {
  plugin       = "transformer"
  layers       = 2
  d_model      = 128
  heads        = 4
  context      = 1024
  space_tokens = true
  copy         = true
  device       = "cpu"
}

# Demonstrations: each tool corrupts reference programs and writes the
# command traces that repair them, in its own DSL.
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

# history = "last": the model sees the prompt and the latest state only,
# which keeps contexts short enough for a CPU model's window.
# context_loss: the commands' loss plus half the mean next-token loss on the
# prompt and state the model reads (it learns the code it must copy from).
stage "sft" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos
  init         = var.pretrained
  steps        = var.sft_steps
  batch_size   = 4
  history       = "last"
  context_loss  = 0.5
  closing_turns = var.closing_turns
  # A checkpoint also scores the held-out demonstrations (~1 s); every
  # 200 steps keeps that under 2% of the stage.
  checkpoint_every = 200
}

stage "sft_direct" {
  kind         = "sft"
  model        = model.policy
  data         = stage.demos_direct
  init         = var.pretrained
  steps        = var.direct_steps
  batch_size   = 8
  context_loss = 0.5
}

# GRPO starts from the SFT checkpoint, which is also the frozen KL reference.
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
  lr             = 1e-4
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
  max_tasks    = var.eval_tasks
  turn_budgets = [1, 2, 4, 6]
}

eval "direct" {
  model       = model.policy
  tool        = tool.direct
  dataset     = dataset.basic
  split       = "test"
  checkpoints = [stage.sft_direct]
  k           = [1, 4]
  max_tokens  = 256
  max_tasks   = var.eval_tasks
}
