# A served model in the loop: evaluate any model behind an OpenAI-compatible
# server (vLLM, SGLang, llama.cpp's llama-server, Ollama, or `lathe serve`)
# with the Chain-of-Edits tool against a direct answer, on the held-out
# built-in tasks. Nothing trains; both evals run the model as served.
#
#   vllm serve Qwen/Qwen2.5-Coder-7B-Instruct --port 8000        # or see README
#   lathe validate experiments/served.hcl
#   lathe run experiments/served.hcl -var model=Qwen/Qwen2.5-Coder-7B-Instruct
#
# llama.cpp:  -var base_url=http://127.0.0.1:8080/v1 -var model=qwen2.5-coder
# Ollama:     -var base_url=http://127.0.0.1:11434/v1 -var model=qwen2.5-coder:7b
# A hosted API: -var base_url=https://... -var api_key_env=OPENAI_API_KEY

experiment "served" {
  seed        = 7
  description = "A served model with CoE vs direct answer on the built-in tasks"
}

variable "base_url" {
  type        = string
  default     = "http://127.0.0.1:8000/v1"
  description = "The server's API root, ending in /v1."
}

variable "model" {
  type        = string
  default     = "Qwen/Qwen2.5-Coder-7B-Instruct"
  description = "The model name the server lists under GET /v1/models."
}

variable "endpoint" {
  type        = string
  default     = "chat"
  description = "chat (instruction-tuned models: the episode as user/assistant turns) or completions (base models, lathe serve)."
}

variable "api_key_env" {
  type        = string
  default     = ""
  description = "Name of the environment variable holding the API key (\"\": none)."
}

variable "eval_tasks" {
  type        = number
  default     = 0
  description = "Held-out tasks evaluated (0: the whole test split)."
}

dataset "basic" {
  source        = "builtin:basic"
  test_fraction = 0.2
}

# A model that was not trained on the commands needs their description:
# show_instructions stays true (the default) in both tools.
tool "editor" {
  plugin    = "coedit"
  max_turns = 10
  timeout_s = 2
}

tool "direct" {
  plugin    = "rewrite"
  timeout_s = 2
}

# The key, if any, is read from the environment at run time; it never goes
# into this file or the run directory.
model "served" {
  plugin      = "openai"
  base_url    = var.base_url
  model       = var.model
  endpoint    = var.endpoint
  api_key_env = var.api_key_env
  concurrency = 8
  timeout_s   = 300
  retries     = 3
}

# No checkpoints: the model is evaluated as configured. Greedy pass@1 is
# one greedy episode per task; pass@1 and pass@4 come from 4 samples at
# temperature 0.8, seeded per request.
eval "coe" {
  model        = model.served
  tool         = tool.editor
  dataset      = dataset.basic
  split        = "test"
  k            = [1, 4]
  max_tokens   = 128
  max_tasks    = var.eval_tasks
  turn_budgets = [1, 2, 4, 10]
}

eval "direct" {
  model      = model.served
  tool       = tool.direct
  dataset    = dataset.basic
  split      = "test"
  k          = [1, 4]
  max_tokens = 1024
  max_tasks  = var.eval_tasks
}
