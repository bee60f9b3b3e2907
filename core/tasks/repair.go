package tasks

import (
	"context"
	"fmt"
	"sync"

	"github.com/lathe-ml/lathe/sdk"
)

// Breaker produces broken starting programs for tasks that only have a
// correct reference. A tool implementing sdk.ToolWithDemonstrate is one:
// its demonstrations start from corrupted programs that fail the task's
// tests, chosen deterministically from (task, seed).
type Breaker interface {
	Demonstrate(ctx context.Context, req sdk.DemonstrateRequest) ([]sdk.Demonstration, error)
}

// RepairTasks returns tasks with a broken Program for every task whose
// Program is its Reference (a benchmark of correct code): the program of the
// first demonstration b gives for (task, seed). Tasks that already start
// from their own program are kept as they are. A task for which b finds no
// failing corruption is left out and reported through warn (nil: the
// standard logger). The result keeps the input order and depends only on
// (tasks, seed) and b's determinism. Up to parallel tasks are broken at
// once (<= 0 means 4). corruptions[i] names the operators that broke the
// i-th task returned (nil for a task kept as it was), for breakdowns.
func RepairTasks(ctx context.Context, tasks []sdk.Task, seed int64, b Breaker, parallel int, warn func(error)) (broken []sdk.Task, corruptions [][]string, err error) {
	if parallel <= 0 {
		parallel = 4
	}
	if warn == nil {
		warn = (&reader{}).warn
	}
	out := make([]sdk.Task, len(tasks))
	ops := make([][]string, len(tasks))
	keep := make([]bool, len(tasks))
	errs := make([]error, len(tasks))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, t := range tasks {
		out[i], keep[i] = t, true
		if t.Reference == "" || t.Program != t.Reference {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, t sdk.Task) {
			defer wg.Done()
			defer func() { <-sem }()
			demos, err := b.Demonstrate(ctx, sdk.DemonstrateRequest{Task: t, Seed: seed, N: 1, Verbatim: true})
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("tasks: break task %s: %w", t.ID, err)
			case len(demos) == 0:
				keep[i] = false
			default:
				out[i].Program, ops[i] = demos[0].Program, demos[0].Corruptions
			}
		}(i, t)
	}
	wg.Wait()
	for i := range tasks {
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		if !keep[i] {
			warn(fmt.Errorf("tasks: task %s: no corruption of its reference fails its tests; left out of the repair set", tasks[i].ID))
			continue
		}
		broken = append(broken, out[i])
		corruptions = append(corruptions, ops[i])
	}
	return broken, corruptions, nil
}
