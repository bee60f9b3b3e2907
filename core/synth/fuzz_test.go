package synth

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadJSONL: a demonstrations file of any content reads or fails with
// an error naming the file, never a panic; what reads writes back to the
// same records.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"task_id":"basic/001","program":"x = 1\n","tests":"assert x == 2\n","actions":["REPL 1 >>>x = 2","EXIT"],"corruptions":["off_by_one"]}` + "\n"))
	f.Add([]byte(`{"task_id":"a","actions":[]}` + "\n" + `{"unknown":1}`))
	f.Add([]byte("\n\n   \n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadJSONL(bytes.NewReader(data), "demos.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "demos.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, recs); err != nil {
			t.Fatal(err)
		}
		again, err := ReadJSONL(&buf, "again")
		if err != nil || len(again) != len(recs) {
			t.Fatalf("written records do not read back: %d vs %d, %v", len(again), len(recs), err)
		}
	})
}
