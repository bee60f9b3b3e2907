package episode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

// Episode is one played episode as Lathe stores it: what the model saw and
// wrote at every turn. States[i] is the observation the action Actions[i]
// answered; a finished episode has one state more than actions (the state
// after the last one). Demonstrations replayed through their tool
// (synthesis), and the greedy episodes of an eval, are written as one
// Episode per line of a JSONL file; SFT reads them back.
type Episode struct {
	TaskID      string   `json:"task_id"`
	Split       string   `json:"split,omitempty"`
	Prompt      string   `json:"prompt"`
	Stop        []string `json:"stop,omitempty"`
	States      []string `json:"states"`
	Actions     []string `json:"actions"`
	Solved      bool     `json:"solved"`
	Corruptions []string `json:"corruptions,omitempty"`
	// Learn is the index of the first action training learns: the actions
	// before it are a policy's own (the expert's continuation of a played
	// episode, DAgger), read as context and never imitated.
	Learn int `json:"learn,omitempty"`
}

// FileFormat is the format of an episodes file, written with
// atomicfile.WriteChecked so that ReadFile can tell a damaged one.
var FileFormat = atomicfile.Format{Name: "lathe-episodes", Version: 1}

// ReadFile reads an episodes file whose episodes are finished (one state
// more than actions), as training needs them, after checking it against its
// checksum file; an error names the file and the line, or the damage.
func ReadFile(path string) ([]Episode, error) {
	b, err := atomicfile.ReadChecked(path, FileFormat)
	if err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	return read(bytes.NewReader(b), path)
}

// read parses episodes from r; path is used in errors.
func read(r io.Reader, path string) ([]Episode, error) {
	var out []Episode
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		var e Episode
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("episode: %s:%d: %w", path, line, err)
		}
		if len(e.States) != len(e.Actions)+1 {
			return nil, fmt.Errorf("episode: %s:%d: %d states for %d actions", path, line, len(e.States), len(e.Actions))
		}
		if e.Learn < 0 || e.Learn >= max(len(e.Actions), 1) {
			return nil, fmt.Errorf("episode: %s:%d: learn = %d, but the episode has %d actions", path, line, e.Learn, len(e.Actions))
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("episode: %s: %w", path, err)
	}
	return out, nil
}

// Write writes e as one line of an episodes file.
func Write(w io.Writer, e Episode) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
