package atomicfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadChecked: a file and a checksum file of any content give the
// file's bytes only if the checksum file is well formed, of the format and
// a version asked for, and matches them; anything else is an error naming
// one of the two files. Never a panic.
func FuzzReadChecked(f *testing.F) {
	good := DigestBytes([]byte("data\n"))
	f.Add([]byte("data\n"), []byte(`{"format":"lathe-test","version":2,"bytes":5,"sha256":"`+good.SHA256+`"}`))
	f.Add([]byte("data\n"), []byte(`{"format":"lathe-test","version":3,"bytes":5,"sha256":"`+good.SHA256+`"}`))
	f.Add([]byte("data"), []byte(`{"format":"lathe-test","version":1,"bytes":-1,"sha256":""}`))
	f.Add([]byte{}, []byte(`{"format":"other","version":1,"bytes":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}`))
	f.Add([]byte("x"), []byte(`null`))
	f.Add([]byte("x"), []byte(`{"version":1e400}`))
	f.Fuzz(func(t *testing.T, data, sum []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+SumSuffix, sum, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := ReadChecked(path, testFormat)
		if err != nil {
			if b != nil {
				t.Fatal("bytes returned with an error")
			}
			var ce *CorruptError
			if errors.As(err, &ce) && ce.Path != path && ce.Path != path+SumSuffix {
				t.Fatalf("CorruptError names %s", ce.Path)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error names neither file: %v", err)
			}
			return
		}
		if string(b) != string(data) {
			t.Fatal("returned other bytes than the file's")
		}
		// Accepted: so the checksum file must really describe the data.
		var s sumFile
		if err := json.Unmarshal(sum, &s); err != nil || s.Digest != DigestBytes(data) || s.Format != testFormat.Name || s.Version > testFormat.Version {
			t.Fatalf("accepted %q against %q", data, sum)
		}
	})
}
