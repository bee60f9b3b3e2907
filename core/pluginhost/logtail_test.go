package pluginhost

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestLogTail(t *testing.T) {
	many := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("line %d", i))
		}
		return out
	}
	cases := []struct {
		name      string
		input     string // what the plugin wrote, in arbitrary chunks
		wantTail  []string
		wantCause string
	}{
		{"hclog JSON is rendered",
			`{"@level":"warn","@message":"slow check","@module":"plugin","@timestamp":"x","ms":120,"task":"t1"}` + "\n",
			[]string{"[WARN] slow check ms=120 task=t1"}, ""},
		{"go-plugin chatter is not kept",
			`{"@level":"debug","@message":"plugin address","@module":"plugin.go-plugin","network":"unix"}` + "\nmine\n",
			[]string{"mine"}, ""},
		{"raw lines and blank lines", "a\n\n  \nb\r\n", []string{"a", "b"}, ""},
		{"only the last lines are kept", strings.Join(many(30), "\n") + "\n", many(30)[30-tailLines:], ""},
		{"panic keeps the lines before it",
			strings.Join(many(15), "\n") + "\npanic: boom\n\n" + strings.Repeat("frame\n", 40),
			append(many(15)[15-(tailLines-panicLines):], append([]string{"panic: boom"}, strings.Split(strings.Repeat("frame ", panicLines-1), " ")[:panicLines-1]...)...),
			"panic: boom"},
		{"fatal error is a cause", "fatal error: out of memory\n", []string{"fatal error: out of memory"}, "fatal error: out of memory"},
		{"unterminated line waits", "partial", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tail := newLogTail(hclog.NewNullLogger())
			w := &lineWriter{tail: tail}
			// Chunks of 7 bytes: lines must be reassembled across writes.
			for in := c.input; in != ""; {
				n := min(7, len(in))
				if _, err := w.Write([]byte(in[:n])); err != nil {
					t.Fatal(err)
				}
				in = in[n:]
			}
			if got := tail.tail(); !reflect.DeepEqual(got, c.wantTail) && !(len(got) == 0 && len(c.wantTail) == 0) {
				t.Errorf("tail =\n%q\nwant\n%q", got, c.wantTail)
			}
			if got := tail.cause(); got != c.wantCause {
				t.Errorf("cause = %q, want %q", got, c.wantCause)
			}
		})
	}
}
