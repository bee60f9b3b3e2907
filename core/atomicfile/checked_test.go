package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testFormat = Format{Name: "lathe-test", Version: 2}

// TestReadCheckedDamage damages a checked file, or its checksum file, in
// each way a disk or a person can, and expects an error naming the file at
// fault and the cause, never the content.
func TestReadCheckedDamage(t *testing.T) {
	const content = "{\"a\":1}\n{\"a\":2}\n"
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		read    Format
		corrupt string // the path a *CorruptError must name, relative: "f" or "f.sum"; "" for another error
		want    string // in the message
	}{
		{"truncated", func(t *testing.T, p string) { truncate(t, p, 10) }, testFormat, "f", "10 bytes, but 16 were written"},
		{"emptied", func(t *testing.T, p string) { truncate(t, p, 0) }, testFormat, "f", "0 bytes, but 16 were written"},
		{"extended", func(t *testing.T, p string) { appendTo(t, p, "{\"a\":3}\n") }, testFormat, "f", "24 bytes, but 16 were written"},
		{"one byte flipped", func(t *testing.T, p string) { flip(t, p, 5) }, testFormat, "f", "SHA-256"},
		{"checksum file truncated", func(t *testing.T, p string) { truncate(t, p+SumSuffix, 20) }, testFormat, "f.sum", "not a checksum file"},
		{"checksum file emptied", func(t *testing.T, p string) { truncate(t, p+SumSuffix, 0) }, testFormat, "f.sum", "not a checksum file"},
		{"checksum file's digest altered", func(t *testing.T, p string) { replaceIn(t, p+SumSuffix, `"sha256":"`, `"sha256":"0`) }, testFormat, "f.sum", "not a checksum file"},
		{"newer version", func(t *testing.T, p string) {}, Format{Name: "lathe-test", Version: 1}, "", "lathe-test version 2; this build reads up to version 1"},
		{"other format", func(t *testing.T, p string) {}, Format{Name: "lathe-other", Version: 2}, "", "holds lathe-test, not lathe-other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := WriteCheckedBytes(path, testFormat, []byte(content)); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path)
			b, err := ReadChecked(path, tc.read)
			if err == nil {
				t.Fatalf("read %q from a damaged file without an error", b)
			}
			if b != nil {
				t.Errorf("returned %d bytes with the error", len(b))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
			var ce *CorruptError
			switch {
			case tc.corrupt == "" && errors.As(err, &ce):
				t.Errorf("err = %v is a CorruptError; the file is intact", err)
			case tc.corrupt != "" && !errors.As(err, &ce):
				t.Errorf("err = %v (%T), want a *CorruptError", err, err)
			case tc.corrupt != "" && ce.Path != filepath.Join(filepath.Dir(path), tc.corrupt):
				t.Errorf("CorruptError names %s, want %s", ce.Path, tc.corrupt)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v does not name %s", err, path)
			}
		})
	}
}

func TestReadCheckedIntact(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		setup func(path string) error
		want  string
	}{
		{"written checked", func(p string) error { return WriteCheckedBytes(p, testFormat, []byte("abc")) }, "abc"},
		{"older version", func(p string) error { return WriteCheckedBytes(p, Format{"lathe-test", 1}, []byte("v1")) }, "v1"},
		{"rewritten", func(p string) error {
			if err := WriteCheckedBytes(p, testFormat, []byte("first")); err != nil {
				return err
			}
			return WriteCheckedBytes(p, testFormat, []byte("second, longer"))
		}, "second, longer"},
		{"empty", func(p string) error { return WriteCheckedBytes(p, testFormat, nil) }, ""},
		// A file from before checksums, or one whose checksum file a crash
		// kept from being written, is complete (it was renamed into place).
		{"no checksum file", func(p string) error { return os.WriteFile(p, []byte("legacy"), 0o644) }, "legacy"},
		{"crash before the checksum file", func(p string) error {
			if err := WriteCheckedBytes(p, testFormat, []byte("old")); err != nil {
				return err
			}
			// What WriteChecked leaves when the process dies after renaming
			// the new content: the old checksum is already gone.
			if err := os.Remove(p + SumSuffix); err != nil {
				return err
			}
			return Write(p, []byte("new"))
		}, "new"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := tc.setup(path); err != nil {
				t.Fatal(err)
			}
			b, err := ReadChecked(path, testFormat)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("read %q, want %q", b, tc.want)
			}
		})
	}
}

func TestWriteCheckedFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteCheckedBytes(path, testFormat, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := WriteChecked(path, testFormat, func(w io.Writer) error {
		io.WriteString(w, "half of the new")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	// The old content stays, without a checksum (it was removed before
	// the write): readable, never mistaken for the half-written one.
	b, err := ReadChecked(path, testFormat)
	if err != nil || string(b) != "old" {
		t.Errorf("after a failed write: %q, %v; want the old content", b, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "f" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestReadCheckedMissing(t *testing.T) {
	_, err := ReadChecked(filepath.Join(t.TempDir(), "nothing"), testFormat)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want one wrapping fs.ErrNotExist", err)
	}
}

func TestDigestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	b := []byte(strings.Repeat("lathe", 1000))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := DigestFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d != DigestBytes(b) || d.Bytes != 5000 {
		t.Errorf("DigestFile = %+v, DigestBytes = %+v", d, DigestBytes(b))
	}
	// sha256 of the empty string, a known value.
	if got := DigestBytes(nil).SHA256; got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty digest %s", got)
	}
}

func truncate(t *testing.T, path string, n int64) {
	t.Helper()
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), old, new, 1)
	if s == string(b) {
		t.Fatalf("%s holds no %q", path, old)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
