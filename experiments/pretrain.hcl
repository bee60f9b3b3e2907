# Pretraining: next-token language modelling on the Python standard library
# of the interpreter the sandbox runs (found at run time; nothing is copied
# into Lathe), so a model starts its repair training knowing some Python.
# One run serves many experiments: a later stage starts from it with
#
#   init = "runs/pretrain/<time>/stages/lm"
#
# (paper.hcl takes it as -var pretrained=runs/pretrain/<time>/stages/lm). The model block must match the
# experiments that start from it: a checkpoint brings its own architecture
# and tokenizer.
#
# The datasets below are the ones those experiments evaluate on. They are
# read only to keep their programs out of the corpus: a corpus file holding
# a test or validation program stops the run before it trains.
#
#   lathe run experiments/pretrain.hcl
#   lathe run experiments/pretrain.hcl -var corpus=files:/path/to/code

experiment "pretrain" {
  seed        = 11
  description = "Python standard library language modelling for the paper-sized transformer"
}

variable "corpus" {
  type        = string
  default     = "builtin:python-stdlib"
  description = "builtin:python-stdlib or files:DIR[:DIR...]"
}

variable "steps" {
  type    = number
  default = 3000
}

variable "datasets" {
  type        = string
  default     = "../shared/datasets"
  description = "Directory holding mbpp/mbpp.jsonl (the benchmark kept out of the corpus)."
}

variable "context" {
  type        = number
  default     = 1024
  description = "paper.hcl's window; 512 for quickstart.hcl"
}

variable "vocab" {
  type        = number
  default     = 2048
  description = "paper.hcl's vocabulary; 1024 for quickstart.hcl"
}

variable "copy" {
  type        = bool
  default     = true
  description = "The copy head (the quickstart's and paper's models have one); a checkpoint without it still loads into them and gains a fresh one."
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

dataset "basic" {
  source        = "builtin:basic"
  test_fraction = 0.2
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

stage "lm" {
  kind             = "pretrain"
  model            = model.policy
  corpus           = var.corpus
  steps            = var.steps
  batch_size       = 8
  heldout          = 0.02
  checkpoint_every = 250
}
