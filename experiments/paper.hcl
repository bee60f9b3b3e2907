# The paper's comparison on MBPP: Chain-of-Edits against a direct answer at
# the same model size, SFT against SFT+GRPO, pass@1 and pass@4 on MBPP's
# 500 test tasks, and success as a function of the turn budget. The recipe
# is the quickstart's (README, "The quickstart"), on MBPP's 374 training
# tasks: a 2-layer, 128-wide model with the copy head, one misspelled name
# per program (-var 'operators=[]' -var max_corruptions=5 for the full
# mixture, which a model this size does not learn; README), history =
# "last", SFT in small batches. Seeds 1-3 (README): CoE test pass@1 0.313
# after SFT and 0.345 after GRPO (0.291-0.368), the direct answer 0.000;
# about 30 minutes a seed on 2 CPU cores.
#
#   lathe run experiments/paper.hcl -var seed=1
#   lathe run experiments/paper.hcl -var datasets=/path/to/datasets
#
# MBPP is read from ${var.datasets}/mbpp/mbpp.jsonl (official splits: tasks
# 11-510 test, 511-600 validation, 601-974 train). Start both SFT stages
# from a pretraining run with -var pretrained=DIR (experiments/pretrain.hcl).

experiment "paper" {
  seed        = var.seed
  description = "MBPP: CoE vs direct answer, SFT and SFT+GRPO"
}

variable "seed" {
  type        = number
  default     = 1
  description = "Seed of every stage (the MBPP split is the official one whatever the seed)."
}

variable "datasets" {
  type        = string
  default     = "../shared/datasets"
  description = "Directory holding mbpp/mbpp.jsonl."
}

variable "sft_steps" {
  type        = number
  default     = 3200
  description = "Supervised steps of the Chain-of-Edits SFT (4 examples each)."
}

variable "direct_steps" {
  type        = number
  default     = 200
  description = "Supervised steps of the direct-answer SFT (8 examples each; a step costs about twice a CoE step)."
}

variable "rl_steps" {
  type        = number
  default     = 100
  description = "GRPO steps (each plays group x tasks_per_step episodes)."
}

variable "per_task" {
  type        = number
  default     = 8
  description = "Synthetic demonstrations per MBPP train task and tool."
}

variable "closing_turns" {
  type        = number
  default     = 0.25
  description = "Share of the CoE demonstrations whose closing EXIT is a training example."
}

variable "turns" {
  type        = number
  default     = 6
  description = "Turn limit of the editing tool (the paper uses 10)."
}

variable "operators" {
  type        = list(string)
  default     = ["typo"]
  description = "Corruption operators of both tools ([] for all; see the README)."
}

variable "max_corruptions" {
  type        = number
  default     = 1
  description = "Most corruptions per broken program."
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
  max_turns         = var.turns
  timeout_s         = 2
  show_instructions = false
  operators         = var.operators
  max_corruptions   = var.max_corruptions
}

# The direct-answer baseline: the same tests and feedback, one action that is
# the whole program. Only the tool differs between the two arms.
tool "direct" {
  plugin            = "rewrite"
  timeout_s         = 2
  show_instructions = false
  operators         = var.operators
  max_corruptions   = var.max_corruptions
}

reward "solved" {
  plugin         = "tests"
  format_penalty = -0.5
}

# The copy head: a model trained from scratch on a CPU copies what it reads
# (line numbers, names, lines) only with it (README, "The copy head"). The
# window holds the direct answer's prompt, program and whole answer.
model "policy" {
  plugin       = "transformer"
  layers       = var.layers
  d_model      = var.d_model
  heads        = 4
  context      = 1024
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
  kind             = "sft"
  model            = model.policy
  data             = stage.demos
  init             = var.pretrained
  steps            = var.sft_steps
  batch_size       = 4
  history          = "last"
  context_loss     = 0.5
  closing_turns    = var.closing_turns
  checkpoint_every = 400
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

# RL from the SFT checkpoint (also the frozen KL reference) with the
# paper's reward: +1 at the first pass, -0.5 for a malformed command or a
# missing EXIT. The direct arm gets no RL: its SFT model passes no training
# task, so every group's rewards are equal and GRPO has no signal.
stage "rl" {
  kind           = "grpo"
  model          = model.policy
  tool           = tool.editor
  reward         = reward.solved
  dataset        = dataset.mbpp
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
  dataset      = dataset.mbpp
  split        = "test"
  checkpoints  = [stage.sft, stage.rl]
  k            = [1, 4]
  samples      = var.samples
  history      = "last"
  max_tokens   = 48
  max_tasks    = var.eval_tasks
  turn_budgets = [1, 2, 4, 6]
}

eval "direct" {
  model       = model.policy
  tool        = tool.direct
  dataset     = dataset.mbpp
  split       = "test"
  checkpoints = [stage.sft_direct]
  k           = [1, 4]
  samples     = var.samples
  max_tokens  = 384
  max_tasks   = var.eval_tasks
}
