package pluginhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// tailLines is how many of a plugin's last output lines an error shows.
const tailLines = 20

// logTail collects a plugin's output lines: it forwards each to the host's
// logger (at the level the plugin logged it) and keeps the last tailLines,
// rendered for people, for the error that reports a crash.
type logTail struct {
	logger hclog.Logger

	mu      sync.Mutex
	lines   []string // ring of the last tailLines lines
	next    int
	full    bool
	inPanic bool // a panic or fatal error began: later raw lines are errors

	// A panic's stack trace would push everything before it out of the
	// ring, so at the first panic line the lines before it are frozen and
	// only the first panicLines lines of the trace are kept beside them.
	beforePanic []string
	panicked    []string
}

// panicLines is how many lines of a panic (message and top of the stack)
// the tail keeps; the whole trace is in the log.
const panicLines = 10

func newLogTail(logger hclog.Logger) *logTail {
	return &logTail{logger: logger, lines: make([]string, tailLines)}
}

// add files one line of plugin output.
func (t *logTail) add(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	shown, level, msg, args := parseLine(line)
	t.mu.Lock()
	if level == hclog.NoLevel {
		if !t.inPanic && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
			t.inPanic = true
			t.beforePanic = t.ringLocked()
			if n := len(t.beforePanic); n > tailLines-panicLines {
				t.beforePanic = t.beforePanic[n-(tailLines-panicLines):]
			}
		}
		level = hclog.Info
		if t.inPanic {
			level = hclog.Error
			if len(t.panicked) < panicLines {
				t.panicked = append(t.panicked, shown)
			}
		}
	}
	if isGoPluginLine(line) {
		// go-plugin's own chatter (its listen address) is logged but kept
		// out of the tail, which is for the plugin's words.
		t.mu.Unlock()
		t.logger.Log(level, msg, args...)
		return
	}
	t.lines[t.next] = shown
	t.next = (t.next + 1) % len(t.lines)
	if t.next == 0 {
		t.full = true
	}
	t.mu.Unlock()
	t.logger.Log(level, msg, args...)
}

// tail returns the kept lines, oldest first: the last tailLines lines, or
// after a panic the lines before it and the top of its trace.
func (t *logTail) tail() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inPanic {
		return append(append([]string(nil), t.beforePanic...), t.panicked...)
	}
	return t.ringLocked()
}

func (t *logTail) ringLocked() []string {
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}

// cause returns the first line of the last panic or fatal error in the tail,
// the most useful single line about why a plugin died.
func (t *logTail) cause() string {
	lines := t.tail()
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return l
		}
	}
	return ""
}

// isGoPluginLine reports whether line came from go-plugin's own logger in
// the plugin (sdk/serve names it "go-plugin").
func isGoPluginLine(line string) bool {
	return strings.HasPrefix(line, "{") && strings.Contains(line, `"@module":"plugin.go-plugin"`)
}

// parseLine reads an hclog JSON line ({"@level":..,"@message":..,k:v}) as a
// level, message and key/value pairs, and renders it for people; any other
// line is returned as is with NoLevel.
func parseLine(line string) (shown string, level hclog.Level, msg string, args []any) {
	if !strings.HasPrefix(line, "{") {
		return line, hclog.NoLevel, line, nil
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return line, hclog.NoLevel, line, nil
	}
	lv, _ := m["@level"].(string)
	msg, _ = m["@message"].(string)
	level = hclog.LevelFromString(lv)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", strings.ToUpper(level.String()), msg)
	for _, k := range keys {
		args = append(args, k, m[k])
		fmt.Fprintf(&b, " %s=%v", k, m[k])
	}
	return b.String(), level, msg, args
}

// lineWriter splits a byte stream into lines for a logTail. go-plugin hands
// its Stderr writer a line and its newline in separate writes, and the
// stdio streams arrive in arbitrary chunks, so lines are reassembled here.
type lineWriter struct {
	tail *logTail
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf.Next(i + 1))
		w.tail.add(line[:len(line)-1])
	}
	// A plugin that never ends its line must not grow the buffer forever.
	if w.buf.Len() > 64<<10 {
		w.tail.add(w.buf.String())
		w.buf.Reset()
	}
	return len(p), nil
}
