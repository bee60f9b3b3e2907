package sandbox

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// record is one line the harness wrote to the result channel.
type record struct {
	K      string   `json:"k"` // syntax, progerr, test, done
	I      int      `json:"i"`
	OK     bool     `json:"ok"`
	Err    string   `json:"err"` // assertion or exception
	Type   string   `json:"type"`
	Msg    string   `json:"msg"`
	TB     []tbLine `json:"tb"`
	Where  string   `json:"where"`
	Line   int      `json:"line"`
	Text   string   `json:"text"`
	Ops    []string `json:"ops"`
	AMsg   string   `json:"amsg"` // the assert's message, for failures the host finds
	Vals   []string `json:"vals"`
	Reprs  []string `json:"reprs"`
	Nonce  string   `json:"nonce"`
	parsed bool
}

type tbLine struct {
	File string `json:"f"`
	Line int    `json:"l"`
	Name string `json:"n"`
}

// outcome is what the host believes about one run, after checking the
// records for completeness and tampering.
type outcome struct {
	syntax   *record
	progErr  *record
	tests    []*record // by test index; nil = never reported
	ran      bool      // the program's top level finished and the tests began
	complete bool      // the harness's final record, with this run's nonce
	tampered string    // why the records cannot be trusted
}

func parseOutcome(r *reply, total int) outcome {
	o := outcome{tests: make([]*record, total)}
	for _, line := range strings.Split(r.Records, "\n") {
		if line == "" || o.complete {
			continue
		}
		var rec record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			o.tampered = "a malformed line in the result channel"
			continue
		}
		switch rec.K {
		case "done":
			if rec.Nonce != r.nonce {
				o.tampered = "a forged end-of-tests record"
				continue
			}
			o.complete = true
		case "ran":
			o.ran = true
		case "syntax":
			if o.syntax == nil {
				o.syntax = &rec
			}
		case "progerr":
			if o.progErr == nil {
				o.progErr = &rec
			}
		case "test":
			if rec.I < 0 || rec.I >= total || o.tests[rec.I] != nil {
				o.tampered = "a duplicated or out-of-range test record"
				continue
			}
			o.tests[rec.I] = &rec
		default:
			o.tampered = "an unknown record in the result channel"
		}
	}
	return o
}

// verdict turns a program's reply (and, with a reference, the reference's
// reply) into the Verdict and its feedback.
func (p *Pool) verdict(c Check, r, ref *reply, timeout time.Duration) Verdict {
	total := len(r.Tests)
	v := Verdict{Total: total}
	var b strings.Builder
	o := parseOutcome(r, total)
	passed := 0
	firstBad := -1
	for i, t := range o.tests {
		ok := t != nil && t.OK
		if ok && ref != nil {
			ok = matchesReference(t, ref, i)
		} else if ok {
			ok, _ = literalsHold(t, litsFor(r, i))
		}
		if ok {
			passed++
		} else if firstBad < 0 {
			firstBad = i
		}
	}
	// Test records count only from a run the harness finished without
	// interference: a program could write records of its own and then
	// exit or hang.
	if o.complete && o.tampered == "" {
		v.Passed = passed
	}
	show := true
	switch {
	case r.workerDied:
		v.Status, v.ErrorClass = StatusKilled, "killed"
		b.WriteString("Killed: the sandbox worker running the program died.")
	case r.TestsError != "":
		v.Status, v.ErrorClass = StatusError, "syntax"
		v.Passed = 0
		fmt.Fprintf(&b, "The tests do not compile: %s", r.TestsError)
		show = false
	case o.syntax != nil && o.syntax.Where != "<tests>":
		v.Status, v.ErrorClass = StatusError, "syntax"
		v.ErrorType = cmp.Or(o.syntax.Type, "SyntaxError")
		v.Passed = 0
		writeSyntax(&b, o.syntax)
	case r.TimedOut || signalled(r, syscall.SIGXCPU):
		v.Status, v.ErrorClass = StatusTimeout, "timeout"
		v.ErrorType = "Timeout"
		fmt.Fprintf(&b, "Timeout: the program ran longer than %s", fmtDuration(timeout))
		if !o.ran {
			b.WriteString(" before the tests started")
		} else if n := ranTests(o); n < total {
			fmt.Fprintf(&b, " (test %d of %d was running)", n+1, total)
		}
		b.WriteString(".")
	case signalled(r, syscall.SIGXFSZ) || r.StdoutSize >= p.opts.OutputBytes || r.StderrSize >= p.opts.OutputBytes:
		v.Status, v.ErrorClass = StatusKilled, "output"
		fmt.Fprintf(&b, "Killed: the program wrote more than %d bytes of output.", p.opts.OutputBytes)
	case r.Signal != nil:
		v.Status, v.ErrorClass = StatusKilled, "killed"
		fmt.Fprintf(&b, "Killed: the program was killed by %s.", signalName(*r.Signal))
	case o.progErr != nil:
		v.Status, v.ErrorClass = StatusError, classOf(o.progErr)
		v.ErrorType = o.progErr.Type
		v.Passed = 0
		if o.progErr.Where == "<setup>" {
			b.WriteString("The test setup code raised an error:\n")
		}
		writeException(&b, o.progErr, c)
	case o.tampered != "":
		v.Status, v.ErrorClass = StatusError, "killed"
		fmt.Fprintf(&b, "Error: the program tampered with the test harness (%s).", o.tampered)
	case !o.complete:
		v.Status, v.ErrorClass = StatusError, "killed"
		code := 0
		if r.Exit != nil {
			code = *r.Exit
		}
		fmt.Fprintf(&b, "Error: the program exited with status %d before the tests finished (%d of %d tests ran).",
			code, ranTests(o), total)
	case firstBad < 0:
		v.Status = StatusPass
		fmt.Fprintf(&b, "All %d tests passed.", total)
		show = false
	default:
		t := o.tests[firstBad]
		fmt.Fprintf(&b, "Test %d of %d failed:\n%s\n", firstBad+1, total, clip(r.Tests[firstBad].Text, 300))
		switch {
		case t == nil:
			v.Status, v.ErrorClass = StatusError, "killed"
			b.WriteString("Error: the test did not report a result.")
		case t.OK && ref != nil: // passed locally, but its values differ from the reference's
			v.Status, v.ErrorClass, v.ErrorType = StatusFail, "assertion", "AssertionError"
			b.WriteString(referenceMismatch(t, ref, firstBad))
		case t.OK: // passed locally, but not against the literals the host kept
			v.Status, v.ErrorClass, v.ErrorType = StatusFail, "assertion", "AssertionError"
			_, msg := literalsHold(t, litsFor(r, firstBad))
			if t.AMsg != "" {
				msg = "AssertionError: " + clip(t.AMsg, 400)
			}
			b.WriteString(msg)
		case t.Err == "assertion" && len(t.TB) == 0:
			v.Status, v.ErrorClass, v.ErrorType = StatusFail, "assertion", "AssertionError"
			b.WriteString("AssertionError")
			if t.Msg != "" {
				b.WriteString(": " + clip(t.Msg, 400))
			}
		default:
			v.Status, v.ErrorClass = StatusError, classOf(t)
			v.ErrorType = cmp.Or(t.Type, "AssertionError")
			if t.Err == "assertion" {
				v.Status = StatusFail
			}
			writeException(&b, t, c)
		}
	}
	if show && v.Status != StatusPass {
		writeOutput(&b, "stdout", r.Stdout, r.StdoutSize, p.opts.ShowBytes)
		writeOutput(&b, "stderr", r.Stderr, r.StderrSize, p.opts.ShowBytes)
	}
	v.Feedback = b.String()
	return v
}

// matchesReference: a test passes only if the reference passed it too and
// every value it checked equals the reference's value.
func matchesReference(t *record, ref *reply, i int) bool {
	rt := refTest(ref, i)
	if rt == nil || !rt.OK || len(rt.Vals) != len(t.Vals) {
		return false
	}
	for k := range rt.Vals {
		// "?" marks a literal the worker kept from the program's child.
		if t.Vals[k] != "?" && rt.Vals[k] != t.Vals[k] {
			return false
		}
	}
	return true
}

func litsFor(r *reply, i int) []literal {
	if i < len(r.Lits) {
		return r.Lits[i]
	}
	return nil
}

var negatedOp = map[string]string{"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<",
	"in": "not in", "not in": "in", "is": "is not", "is not": "is"}

// literalsHold evaluates the == and != comparisons that involve literals
// the worker removed: the child reported its own operands' values, the
// worker the literals'. It returns false and Python's message when one fails.
func literalsHold(t *record, lits []literal) (bool, string) {
	if len(lits) == 0 {
		return true, ""
	}
	n := len(t.Ops) + 1
	if len(t.Vals) != n || len(t.Reprs) != n {
		return false, "AssertionError: the test did not report its values"
	}
	canon := append([]string(nil), t.Vals...)
	repr := append([]string(nil), t.Reprs...)
	stripped := make([]bool, n)
	for _, l := range lits {
		if l.Operand < 0 || l.Operand >= n || t.Vals[l.Operand] != "?" {
			return false, "AssertionError: the test's values were tampered with"
		}
		canon[l.Operand], repr[l.Operand], stripped[l.Operand] = l.Canon, l.Repr, true
	}
	for k, op := range t.Ops {
		if !stripped[k] && !stripped[k+1] {
			continue // the child compared these itself
		}
		eq := canon[k] == canon[k+1]
		if (op == "==" && !eq) || (op == "!=" && eq) || (op != "==" && op != "!=") {
			return false, "AssertionError: " + clip(repr[k], 200) + " " + negatedOp[op] + " " + clip(repr[k+1], 200)
		}
	}
	return true, ""
}

func refTest(ref *reply, i int) *record {
	if ref == nil {
		return nil
	}
	o := parseOutcome(ref, len(ref.Tests))
	if !o.complete || o.tampered != "" || i >= len(o.tests) {
		return nil
	}
	return o.tests[i]
}

func referenceMismatch(t *record, ref *reply, i int) string {
	rt := refTest(ref, i)
	if rt == nil || !rt.OK || len(rt.Reprs) != len(t.Vals) || len(t.Reprs) != len(t.Vals) {
		return "AssertionError: the reference solution does not pass this test either."
	}
	// Show the comparison as Python would, taking stripped literals from
	// the reference's run.
	side := func(k int) string {
		if t.Vals[k] == "?" {
			return rt.Reprs[k]
		}
		return t.Reprs[k]
	}
	if len(t.Ops) > 0 && len(t.Ops) == len(t.Vals)-1 {
		for k, op := range t.Ops {
			if (t.Vals[k] != "?" && t.Vals[k] != rt.Vals[k]) || (t.Vals[k+1] != "?" && t.Vals[k+1] != rt.Vals[k+1]) {
				return "AssertionError: " + clip(side(k), 200) + " " + negatedOp[op] + " " + clip(side(k+1), 200)
			}
		}
	}
	for k := range t.Vals {
		if t.Vals[k] != "?" && t.Vals[k] != rt.Vals[k] {
			return "AssertionError: got " + clip(t.Reprs[k], 200) + ", which is not the expected value"
		}
	}
	return "AssertionError: the checked values differ from the expected ones"
}

func ranTests(o outcome) int {
	n := 0
	for _, t := range o.tests {
		if t != nil {
			n++
		}
	}
	return n
}

func classOf(r *record) string {
	switch {
	case r.Type == "MemoryError":
		return "memory"
	case r.Type == "AssertionError" || r.Err == "assertion":
		return "assertion"
	case r.Type == "RecursionError":
		return "exception"
	}
	return "exception"
}

// writeSyntax renders Python's own three lines:
//
//	  File "<program>", line 3
//	    retrun (res)
//	SyntaxError: invalid syntax
func writeSyntax(b *strings.Builder, r *record) {
	if r.Line > 0 {
		fmt.Fprintf(b, "  File %q, line %d\n", r.Where, r.Line)
	}
	if text := strings.TrimSpace(strings.TrimRight(r.Text, "\r\n")); text != "" {
		fmt.Fprintf(b, "    %s\n", clip(text, 200))
	}
	typ := r.Type
	if typ == "" {
		typ = "SyntaxError"
	}
	fmt.Fprintf(b, "%s: %s", typ, clip(r.Msg, 300))
}

// writeException renders the last traceback line that points into the
// program (or setup/tests), its source line, then "Type: message".
func writeException(b *strings.Builder, r *record, c Check) {
	if n := len(r.TB); n > 0 {
		f := r.TB[n-1]
		fmt.Fprintf(b, "  File %q, line %d, in %s\n", f.File, f.Line, f.Name)
		src := ""
		switch f.File {
		case "<program>":
			src = sourceLine(c.Program, f.Line)
		case "<setup>":
			src = sourceLine(c.Setup, f.Line)
		case "<tests>":
			src = sourceLine(c.Tests, f.Line)
		}
		if src != "" {
			fmt.Fprintf(b, "    %s\n", clip(src, 200))
		}
	}
	b.WriteString(r.Type)
	if r.Msg != "" {
		b.WriteString(": " + clip(r.Msg, 400))
	}
}

func sourceLine(src string, n int) string {
	lines := strings.Split(src, "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimSpace(strings.TrimRight(lines[n-1], "\r"))
}

func writeOutput(b *strings.Builder, name, s string, size int64, limit int) {
	if size == 0 {
		return
	}
	fmt.Fprintf(b, "\n--- %s ---\n", name)
	if int64(len(s)) > int64(limit) || size > int64(len(s)) {
		fmt.Fprintf(b, "%s\n[%d bytes in all, truncated]", strings.TrimRight(clipBytes(s, limit), "\n"), size)
		return
	}
	b.WriteString(strings.TrimRight(s, "\n"))
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "..."
}

func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func signalled(r *reply, s syscall.Signal) bool {
	return r.Signal != nil && syscall.Signal(*r.Signal) == s
}

func signalName(n int) string {
	names := map[syscall.Signal]string{
		syscall.SIGKILL: "SIGKILL", syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT",
		syscall.SIGBUS: "SIGBUS", syscall.SIGTERM: "SIGTERM", syscall.SIGFPE: "SIGFPE",
		syscall.SIGILL: "SIGILL", syscall.SIGSYS: "SIGSYS", syscall.SIGPIPE: "SIGPIPE",
	}
	if s, ok := names[syscall.Signal(n)]; ok {
		return s
	}
	return fmt.Sprintf("signal %d", n)
}

func fmtDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return d.String()
}
