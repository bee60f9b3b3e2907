package sandbox

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVerdictFromRecords checks the host's reading of a worker reply
// without running Python: completeness, the nonce, duplicates and limits.
func TestVerdictFromRecords(t *testing.T) {
	p := &Pool{opts: Options{}.withDefaults()}
	two := []testSource{{"assert f(1) == 2", 1}, {"assert f(2) == 3", 2}}
	sig := func(s syscall.Signal) *int { n := int(s); return &n }
	zero := 0
	const ok0 = `{"k":"test","i":0,"ok":true}` + "\n"
	const ok1 = `{"k":"test","i":1,"ok":true}` + "\n"
	const done = `{"k":"done","nonce":"n1"}` + "\n"
	cases := []struct {
		name     string
		r        reply
		status   Status
		passed   int
		feedback string
	}{
		{"complete pass", reply{Records: ok0 + ok1 + done, Tests: two}, StatusPass, 2, "All 2 tests passed."},
		{"wrong nonce", reply{Records: ok0 + ok1 + `{"k":"done","nonce":"forged"}` + "\n", Tests: two, Exit: &zero}, StatusError, 0, "forged end-of-tests record"},
		{"no end record", reply{Records: ok0 + ok1, Tests: two, Exit: &zero}, StatusError, 0, "exited with status 0 before the tests finished (2 of 2 tests ran)"},
		{"duplicate record", reply{Records: ok0 + ok0 + ok1 + done, Tests: two}, StatusError, 0, "tampered"},
		{"missing test record", reply{Records: ok0 + done, Tests: two}, StatusError, 1, "Test 2 of 2 failed:\nassert f(2) == 3\nError: the test did not report a result."},
		{"records after the end are ignored", reply{Records: ok0 + `{"k":"test","i":1,"ok":false,"err":"assertion","type":"AssertionError","msg":"2 != 3"}` + "\n" + done + ok1, Tests: two}, StatusFail, 1, "AssertionError: 2 != 3"},
		{"cpu limit is a timeout", reply{Signal: sig(syscall.SIGXCPU), Tests: two, Records: `{"k":"ran"}` + "\n" + ok0}, StatusTimeout, 0, "Timeout: the program ran longer than 5s (test 2 of 2 was running)."},
		{"file size limit is an output kill", reply{Signal: sig(syscall.SIGXFSZ), Tests: two, StdoutSize: 10, Stdout: "xxxxxxxxxx"}, StatusKilled, 0, "wrote more than 1048576 bytes"},
		{"segfault", reply{Signal: sig(syscall.SIGSEGV), Tests: two}, StatusKilled, 0, "killed by SIGSEGV"},
		{"long stdout is truncated", reply{Records: `{"k":"test","i":0,"ok":false,"err":"assertion","type":"AssertionError"}` + "\n" + ok1 + done, Tests: two,
			Stdout: strings.Repeat("y", 308), StdoutSize: 5000}, StatusFail, 1, "[5000 bytes in all, truncated]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.nonce = "n1"
			v := p.verdict(Check{}, &r, nil, 5*time.Second)
			if v.Status != tc.status || v.Passed != tc.passed || !strings.Contains(v.Feedback, tc.feedback) {
				t.Errorf("got %s %d/%d:\n%s\nwant %s %d, feedback containing %q", v.Status, v.Passed, v.Total, v.Feedback, tc.status, tc.passed, tc.feedback)
			}
		})
	}
}

func TestLRU(t *testing.T) {
	c := newLRU[int](2)
	k := func(b byte) [32]byte { return [32]byte{b} }
	c.put(k(1), 1)
	c.put(k(2), 2)
	c.get(k(1)) // 2 is now the least recently used
	c.put(k(3), 3)
	for _, tc := range []struct {
		key  byte
		want int
		ok   bool
	}{{1, 1, true}, {2, 0, false}, {3, 3, true}} {
		t.Run(string('0'+tc.key), func(t *testing.T) {
			if v, ok := c.get(k(tc.key)); v != tc.want || ok != tc.ok {
				t.Errorf("get(%d) = %d, %v; want %d, %v", tc.key, v, ok, tc.want, tc.ok)
			}
		})
	}
}
