package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Metrics appends JSON records to metrics.jsonl, one per line. Each record
// is written with a single Write on an O_APPEND file, so a reader never
// sees half a line from a live run and a crash loses at most the record
// being written. It is safe for concurrent use.
//
// A record only partly written (the disk filled up, or the process died in
// the middle of the write) never joins the next one: a failed write is cut
// back off the file, and opening a file whose last line has no newline
// cuts that line, so a resumed run appends whole lines after whole lines.
type Metrics struct {
	mu   sync.Mutex
	f    *os.File
	path string
	size int64 // bytes of whole records in the file
}

func openMetrics(path string) (*Metrics, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rundir: %w", err)
	}
	size, err := wholeLines(f)
	if err == nil {
		err = f.Truncate(size) // a no-op unless a crash left half a record
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rundir: %s: %w", path, err)
	}
	return &Metrics{f: f, path: path, size: size}, nil
}

// wholeLines is the length of f up to and including its last newline.
func wholeLines(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	buf := make([]byte, 4096)
	for end > 0 {
		n := int64(len(buf))
		if end < n {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
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
		// Cut what part of the record was written, so the next record (or
		// the resumed run's) starts a line of its own.
		if terr := m.f.Truncate(m.size); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("rundir: %w", err) // err names the file
	}
	m.size += int64(len(b))
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
