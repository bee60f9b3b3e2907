package atomicfile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
)

// SumSuffix names a file's checksum file: demos.jsonl is checked against
// demos.jsonl.sum. The data file keeps its own format, so other tools read
// it as before; the checksum file is one JSON object:
//
//	{"format":"lathe-episodes","version":1,"bytes":5120,"sha256":"9f86d0..."}
const SumSuffix = ".sum"

// Format names what a checked file holds and the version of its layout. A
// reader passes the newest version it understands; a file of a newer one is
// refused rather than misread.
type Format struct {
	Name    string
	Version int
}

// Digest is the size and SHA-256 of a file's content.
type Digest struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// sumFile is the content of a checksum file.
type sumFile struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Digest
}

// CorruptError reports a file whose content is not what was written: cut
// short, extended or altered after its checksum was recorded, or whose
// checksum file is itself damaged. Path is the file at fault.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return "atomicfile: " + e.Path + " is damaged: " + e.Reason
}

// WriteChecked replaces path with what write writes, as WriteFunc does, and
// then records its format and digest in path+SumSuffix.
//
// The old checksum file is removed first, so that no crash can leave a
// checksum describing other content than the file beside it: a crash
// between the two renames leaves a complete file without a checksum, which
// ReadChecked accepts as it accepts files written before checksums existed.
func WriteChecked(path string, f Format, write func(w io.Writer) error) error {
	if err := os.Remove(path + SumSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	h := &hashingWriter{h: sha256.New()}
	if err := WriteFunc(path, func(w io.Writer) error {
		h.w = w
		return write(h)
	}); err != nil {
		return err
	}
	js, err := json.Marshal(sumFile{Format: f.Name, Version: f.Version,
		Digest: Digest{Bytes: h.n, SHA256: hex.EncodeToString(h.h.Sum(nil))}})
	if err != nil {
		return err
	}
	return Write(path+SumSuffix, append(js, '\n'))
}

// WriteCheckedBytes is WriteChecked for content already in memory.
func WriteCheckedBytes(path string, f Format, b []byte) error {
	return WriteChecked(path, f, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// ReadChecked reads path and verifies it against its checksum file. A
// damaged file, or a damaged checksum file, is a *CorruptError naming it; a
// file of another format or of a newer version than f is an error too, so
// nothing is ever returned that is not what was written. A file without a
// checksum file (written before checksums, or by a crash between the two
// renames of WriteChecked, which leaves it complete) is returned unchecked.
// The error of reading path itself wraps the os error, so errors.Is(err,
// fs.ErrNotExist) still tells a missing file.
func ReadChecked(path string, f Format) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	s, ok, err := readSum(path, f)
	if err != nil {
		return nil, err
	}
	if !ok {
		return b, nil
	}
	if int64(len(b)) != s.Bytes {
		return nil, &CorruptError{path, fmt.Sprintf("%d bytes, but %d were written (see %s)", len(b), s.Bytes, path+SumSuffix)}
	}
	if got := DigestBytes(b); got.SHA256 != s.SHA256 {
		return nil, &CorruptError{path, fmt.Sprintf("its SHA-256 is %.12s..., but %.12s... was written (see %s)", got.SHA256, s.SHA256, path+SumSuffix)}
	}
	return b, nil
}

// readSum reads path's checksum file; ok is false when there is none.
func readSum(path string, f Format) (sumFile, bool, error) {
	var s sumFile
	sp := path + SumSuffix
	b, err := os.ReadFile(sp)
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("atomicfile: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, false, &CorruptError{sp, "not a checksum file: " + err.Error()}
	}
	if len(s.SHA256) != 2*sha256.Size || s.Bytes < 0 || s.Version < 1 || s.Format == "" {
		return s, false, &CorruptError{sp, fmt.Sprintf("not a checksum file: format %q, version %d, %d bytes, sha256 %q", s.Format, s.Version, s.Bytes, s.SHA256)}
	}
	if s.Format != f.Name {
		return s, false, fmt.Errorf("atomicfile: %s holds %s, not %s (according to %s)", path, s.Format, f.Name, sp)
	}
	if s.Version > f.Version {
		return s, false, fmt.Errorf("atomicfile: %s is %s version %d; this build reads up to version %d", path, s.Format, s.Version, f.Version)
	}
	return s, true, nil
}

// DigestBytes returns the digest of b.
func DigestBytes(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest{Bytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

// DigestFile returns the digest of the file at path, reading it once.
func DigestFile(path string) (Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, fmt.Errorf("atomicfile: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Digest{}, fmt.Errorf("atomicfile: read %s: %w", path, err)
	}
	return Digest{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// hashingWriter passes writes on to w and counts and hashes what w took.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}
