package dsl_test

import (
	"fmt"

	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
)

func Example() {
	program := dsl.SplitProgram("def similar_elements(a, b):\n    res = tuple(set(a) | set(b))\n    retrun (res)\n")
	for _, completion := range []string{"REPW 3 >>>retrun >>>return\n", "REPL 9 >>>x\n"} {
		cmd, err := dsl.ParseAction(completion)
		if err != nil {
			fmt.Println(err)
			continue
		}
		next, err := dsl.Apply(program, cmd)
		if err != nil {
			// The program is unchanged; the message is the feedback.
			fmt.Println(err.(*dsl.Error).Msg)
			continue
		}
		program = next
		fmt.Print(dsl.JoinProgram(program))
	}
	// Output:
	// def similar_elements(a, b):
	//     res = tuple(set(a) | set(b))
	//     return (res)
	// REPL 9: line 9 does not exist (program has 3 lines)
}

func ExampleFormat() {
	cmd, _ := dsl.Parse("REPW 2   >>>a  >>>b")
	fmt.Printf("%q\n%#v\n", dsl.Format(cmd), cmd)
	// Output:
	// "REPW 2 >>>a  >>>b"
	// dsl.Command{Op:"REPW", Line:2, Old:"a ", Text:"b"}
}
