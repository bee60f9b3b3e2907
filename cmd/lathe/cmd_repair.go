package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(command{
		name:    "repair",
		summary: "watch a trained model repair one program, command by command",
		run:     runRepair,
	})
}

const repairUsage = `repair --checkpoint DIR --program FILE --tests FILE [flags]

Loads the model checkpoint in DIR and lets it repair the program with the
tool, printing the prompt, each command the model writes and the state the
tool answers with, until the episode ends. Greedy by default
(--temperature 0).`

func runRepair(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("repair", repairUsage, stderr)
	checkpoint := fs.String("checkpoint", "", "checkpoint directory (required)")
	programFile := fs.String("program", "", "Python file to repair (required)")
	testsFile := fs.String("tests", "", "Python file of assert lines (required)")
	referenceFile := fs.String("reference", "", "optional correct program: test values are compared with it")
	tool := fs.String("tool", "coedit", "tool plugin: a built-in name or an executable path")
	temperature := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	maxTokens := fs.Int("max-tokens", 96, "tokens per action")
	maxTurns := fs.Int("max-turns", 10, "turn limit")
	history := fs.String("history", "full", "context history: full or last")
	seed := fs.Int64("seed", 1, "sampling seed")
	verbose := fs.Bool("v", false, "log plugin output")
	opts := toolOptions{}
	fs.Var(opts, "tool-option", "`NAME=VALUE` option of the tool, as in the experiment's tool block (repeatable)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *checkpoint == "" || *programFile == "" || *testsFile == "" {
		fs.Usage()
		return errors.New("--checkpoint, --program and --tests are required")
	}
	h, err := episode.ParseHistory(*history)
	if err != nil {
		return err
	}
	task := sdk.Task{ID: *programFile}
	for _, f := range []struct {
		path string
		dst  *string
	}{{*programFile, &task.Program}, {*testsFile, &task.Tests}, {*referenceFile, &task.Reference}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		*f.dst = string(b)
	}

	host := newStderrHost(stderr, *verbose)
	defer host.Close()
	model, _, err := startCheckpointModel(ctx, host, *checkpoint)
	if err != nil {
		return err
	}
	opts["max_turns"] = float64(*maxTurns)
	t, err := startToolPlugin(ctx, host, *tool, opts)
	if err != nil {
		return err
	}
	r, err := t.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		return err
	}
	defer t.Close(context.WithoutCancel(ctx), r.Session)
	fmt.Fprintf(stdout, "%s\n%s\n", r.Prompt, r.Observation.Text)
	states, actions := []string{r.Observation.Text}, []string{}
	obs := r.Observation
	for turn := 1; !obs.Done; turn++ {
		c, err := episode.Context(r.Prompt, states, actions, r.Stop, h)
		if err != nil {
			return err
		}
		g, err := model.Generate(ctx, sdk.GenerateRequest{Contexts: []string{c}, Sampling: sdk.Sampling{
			Temperature: *temperature, MaxTokens: *maxTokens, Stop: r.Stop, Seed: *seed + int64(turn)}})
		if err != nil {
			return err
		}
		action := g.Completions[0].Text
		fmt.Fprintf(stdout, "%s%s", episode.ActionPrompt, episode.EndAction(action, r.Stop))
		s, err := t.Step(ctx, sdk.StepRequest{Session: r.Session, Action: action})
		if err != nil {
			return err
		}
		obs = s.Observation
		states, actions = append(states, obs.Text), append(actions, action)
		fmt.Fprintln(stdout, obs.Text)
	}
	verdict := "not repaired"
	if obs.Info.Solved {
		verdict = "repaired"
	}
	fmt.Fprintf(stdout, "-- %s after %d turns: %d/%d tests pass\n", verdict, obs.Info.Turn, obs.Info.Passed, obs.Info.Total)
	return nil
}
