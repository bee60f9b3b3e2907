package sandbox_test

import (
	"context"
	"fmt"

	"github.com/lathe-ml/lathe/core/sandbox"
)

func ExamplePool_Run() {
	ctx := context.Background()
	pool, err := sandbox.NewPool(ctx, sandbox.Options{Workers: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	v, err := pool.Run(ctx, sandbox.Check{
		Program: "def similar_elements(a, b):\n    return tuple(set(a) | set(b))\n",
		Tests:   "assert similar_elements((3, 4, 5), (5, 7, 4)) == (4, 5)\n",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Status, v.Passed, v.Total)
	fmt.Println(v.Feedback)
	// Output:
	// fail 0 1
	// Test 1 of 1 failed:
	// assert similar_elements((3, 4, 5), (5, 7, 4)) == (4, 5)
	// AssertionError: (3, 4, 5, 7) != (4, 5)
}
