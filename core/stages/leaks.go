package stages

import (
	"context"
	"fmt"
	"strings"

	"github.com/lathe-ml/lathe/core/corpus"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/sdk"
)

// evalPrograms are the programs this experiment evaluates on, which no
// training data may hold: the split of every eval block and the test and
// validation splits of every dataset, reference and starting program both.
// heldOut names those of a test or validation split, which not even the
// task they come from may train on.
func evalPrograms(ctx context.Context, env *runner.StageEnv) (programs []corpus.Program, heldOut map[string]bool, err error) {
	type use struct{ dataset, split string }
	uses := map[use]bool{}
	var order []use
	add := func(u use) {
		if !uses[u] {
			uses[u] = true
			order = append(order, u)
		}
	}
	for _, s := range env.Experiment.Stages {
		if s.Kind != "eval" {
			continue
		}
		var a EvalAttrs
		if err := s.Attrs.Decode(&a); err != nil {
			return nil, nil, err
		}
		if a.Dataset.Kind != "" {
			add(use{a.Dataset.Label, a.Split})
		}
	}
	for _, d := range env.Experiment.Datasets {
		add(use{d.Label, tasks.SplitTest})
		add(use{d.Label, tasks.SplitValidation})
	}
	heldOut = map[string]bool{}
	for _, u := range order {
		ds := env.Experiment.Dataset(u.dataset)
		if ds == nil {
			continue
		}
		ts, err := loadDataset(ctx, env, ds, u.split)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: reading the programs evaluated on, to keep them out of training: %w", env.Stage.ID(), err)
		}
		held := u.split == tasks.SplitTest || u.split == tasks.SplitValidation
		for _, t := range ts {
			name := fmt.Sprintf("%s (dataset %q, split %s)", t.ID, ds.Label, u.split)
			ps := []corpus.Program{{Name: name, Text: t.Reference}}
			if t.Program != t.Reference {
				ps = append(ps, corpus.Program{Name: name + ", its broken program", Text: t.Program})
			}
			for _, p := range ps {
				programs = append(programs, p)
				heldOut[p.Name] = held
			}
		}
	}
	return programs, heldOut, nil
}

// withoutLeaks drops the tasks whose reference or program holds one of
// programs, unless the task is itself that program by name and it is not
// held out (an eval of the training split, which the experiment asked
// for): a task of a test or validation split never trains, not even on a
// training split that includes it ("all").
func withoutLeaks(ts []sdk.Task, programs []corpus.Program, heldOut map[string]bool) ([]sdk.Task, []corpus.Leak) {
	docs := make([]corpus.Document, 0, 2*len(ts))
	for _, t := range ts {
		docs = append(docs, corpus.Document{Path: t.ID, Text: t.Reference})
		if t.Program != t.Reference {
			docs = append(docs, corpus.Document{Path: t.ID, Text: t.Program})
		}
	}
	var leaks []corpus.Leak
	bad := map[string]bool{}
	for _, l := range corpus.Leaks(docs, programs) {
		own := strings.HasPrefix(l.Program, l.Path+" ")
		if (own && !heldOut[l.Program]) || bad[l.Path] {
			continue
		}
		bad[l.Path] = true
		leaks = append(leaks, l)
	}
	var kept []sdk.Task
	for _, t := range ts {
		if !bad[t.ID] {
			kept = append(kept, t)
		}
	}
	return kept, leaks
}

// refuseLeaks fails when a training document holds a program the
// experiment evaluates on, naming the first few.
func refuseLeaks(ctx context.Context, env *runner.StageEnv, docs []corpus.Document, what string) error {
	programs, _, err := evalPrograms(ctx, env)
	if err != nil {
		return err
	}
	leaks := corpus.Leaks(docs, programs)
	if len(leaks) == 0 {
		env.Logger.Info("leak check passed", "stage", env.Stage.Label, "documents", len(docs), "eval_programs", len(programs))
		return nil
	}
	var lines []string
	for i, l := range leaks {
		if i == 5 {
			lines = append(lines, fmt.Sprintf("... and %d more", len(leaks)-5))
			break
		}
		lines = append(lines, "  "+l.String())
	}
	return fmt.Errorf("%s: %d %s hold programs this experiment evaluates on; remove them so the evaluation stays held out:\n%s",
		env.Stage.ID(), len(leaks), what, strings.Join(lines, "\n"))
}
