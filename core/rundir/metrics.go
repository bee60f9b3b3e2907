package rundir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Metrics appends JSON records to metrics.jsonl, one per line. Each record
// is written with a single Write on an O_APPEND file, so a reader never
// sees half a line from a live run and a crash loses at most the record
// being written. It is safe for concurrent use.
type Metrics struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

func openMetrics(path string) (*Metrics, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rundir: %w", err)
	}
	return &Metrics{f: f, path: path}, nil
}

// Write appends one record, which must encode as a JSON object.
func (m *Metrics) Write(record any) error {
	b, err := json.Marshal(record)
	if err != nil {
		return fmt.Errorf("rundir: encode metrics record: %w", err)
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("rundir: metrics record is not a JSON object: %.40s", b)
	}
	b = append(b, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return fmt.Errorf("rundir: metrics file %s is closed", m.path)
	}
	if _, err := m.f.Write(b); err != nil {
		return fmt.Errorf("rundir: write %s: %w", m.path, err)
	}
	return nil
}

// Log appends a record {"stage", "step", "time", values...}. Values whose
// names collide with those three fields are dropped.
func (m *Metrics) Log(stage string, step int, values map[string]float64) error {
	rec := make(map[string]any, len(values)+3)
	for k, v := range values {
		rec[k] = v
	}
	rec["stage"] = stage
	rec["step"] = step
	rec["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	return m.Write(rec)
}

func (m *Metrics) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	err := m.f.Close()
	m.f = nil
	return err
}

// ReadMetrics reads every record of a metrics.jsonl file. A last line cut
// short by a crash is skipped; any other malformed line is an error naming
// its line number.
func ReadMetrics(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rundir: %w", err)
	}
	var out []map[string]any
	line := 0
	for len(b) > 0 {
		line++
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break // unterminated last line: a record being written at a crash
		}
		rec := map[string]any{}
		if err := json.Unmarshal(b[:i], &rec); err != nil {
			return out, fmt.Errorf("rundir: %s:%d: %w", path, line, err)
		}
		out = append(out, rec)
		b = b[i+1:]
	}
	return out, nil
}
