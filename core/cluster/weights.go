package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lathe-ml/lathe/sdk"
)

// packDir writes the regular files under dir as a tar with sorted names and
// no times or owners, so equal checkpoints give equal bytes (and hashes).
func packDir(dir string) ([]byte, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// unpack writes a tar made by packDir under dir.
func unpack(data []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) || h.Typeflag != tar.TypeReg {
			return fmt.Errorf("cluster: weights archive holds %q, not a plain file inside it", h.Name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}

func hashOf(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256-" + hex.EncodeToString(s[:])
}

// PutWeights saves the model's checkpoint, uploads it to WeightsBucket
// unless an object of the same content is there, and returns its hash.
func (c *Conn) PutWeights(ctx context.Context, m sdk.ModelWithCheckpoints) (string, int, error) {
	dir, err := os.MkdirTemp("", "lathe-weights-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(dir)
	if err := m.Save(ctx, dir); err != nil {
		return "", 0, fmt.Errorf("cluster: save the model's weights: %w", err)
	}
	data, err := packDir(dir)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: pack weights: %w", err)
	}
	h := hashOf(data)
	if _, err := c.weights.GetInfo(ctx, h); err == nil {
		return h, 0, nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", 0, fmt.Errorf("cluster: weights %s: %w", h, err)
	}
	if _, err := c.weights.PutBytes(ctx, h, data); err != nil {
		return "", 0, fmt.Errorf("cluster: upload weights (%d bytes): %w", len(data), err)
	}
	return h, len(data), nil
}

// weightsCache keeps fetched checkpoints on a worker's disk, one directory
// per hash, fetched once however many slots ask.
type weightsCache struct {
	conn *Conn
	dir  string
	mu   sync.Mutex
	busy map[string]*sync.Mutex
}

func (w *weightsCache) path(ctx context.Context, hash string) (string, error) {
	if strings.ContainsAny(hash, `/\.`) || hash == "" {
		return "", fmt.Errorf("cluster: bad weights hash %q", hash)
	}
	w.mu.Lock()
	if w.busy == nil {
		w.busy = map[string]*sync.Mutex{}
	}
	l, ok := w.busy[hash]
	if !ok {
		l = &sync.Mutex{}
		w.busy[hash] = l
	}
	w.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	final := filepath.Join(w.dir, hash)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	data, err := w.conn.weights.GetBytes(ctx, hash)
	if err != nil {
		return "", fmt.Errorf("cluster: fetch weights %s: %w", hash, err)
	}
	if got := hashOf(data); got != hash {
		return "", fmt.Errorf("cluster: weights %s arrived with content hash %s", hash, got)
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(w.dir, ".fetch-")
	if err != nil {
		return "", err
	}
	if err := unpack(data, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		// Another worker sharing the cache put the same weights there.
		if _, serr := os.Stat(final); serr == nil {
			return final, nil
		}
		return "", err
	}
	return final, nil
}
