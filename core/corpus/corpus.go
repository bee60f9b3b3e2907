// Package corpus reads the source files a model is pretrained on and
// checks that none of them holds a program the model will be evaluated on.
//
// A corpus source is "files:DIR[:DIR...]" (every *.py file below the
// directories) or "builtin:python-stdlib" (the standard library of the
// interpreter the sandbox runs, found at run time; nothing is copied into
// Lathe). Files come in a deterministic order (by path), exact duplicates
// once.
package corpus

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lathe-ml/lathe/core/sandbox"
)

// Document is one source file.
type Document struct {
	Path string
	Text string
}

// Stats say what a Load read and left out.
type Stats struct {
	Files, Bytes int
	// Duplicates, Empty, NotUTF8 and TooLarge count files left out.
	Duplicates, Empty, NotUTF8, TooLarge int
}

// MaxFileBytes leaves out larger files (generated tables, data dumps).
const MaxFileBytes = 1 << 20

// skipDirs are directory names never read: installed packages and the
// interpreter's own test suites (test data, not code to learn from).
var skipDirs = map[string]bool{
	"site-packages": true, "dist-packages": true, "__pycache__": true,
	"test": true, "tests": true, "idle_test": true, ".git": true,
}

// Load reads the documents of a corpus source.
func Load(ctx context.Context, source string) ([]Document, Stats, error) {
	kind, rest, _ := strings.Cut(source, ":")
	var dirs []string
	switch kind {
	case "files":
		for _, d := range strings.Split(rest, string(os.PathListSeparator)) {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
		if len(dirs) == 0 {
			return nil, Stats{}, fmt.Errorf("corpus: %q names no directory (want files:DIR[:DIR...])", source)
		}
	case "builtin":
		if rest != "python-stdlib" {
			return nil, Stats{}, fmt.Errorf("corpus: unknown built-in corpus %q (want builtin:python-stdlib)", rest)
		}
		d, err := Stdlib(ctx)
		if err != nil {
			return nil, Stats{}, err
		}
		dirs = []string{d}
	default:
		return nil, Stats{}, fmt.Errorf("corpus: unknown source %q (want files:DIR[:DIR...] or builtin:python-stdlib)", source)
	}
	return readDirs(ctx, dirs)
}

// Stdlib is the standard library directory of the interpreter the sandbox
// runs.
func Stdlib(ctx context.Context) (string, error) {
	py, err := sandbox.Interpreter(ctx, "")
	if err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-I", "-S", "-c", `import sysconfig; print(sysconfig.get_paths()["stdlib"])`).Output()
	if err != nil {
		return "", fmt.Errorf("corpus: asking %s for its standard library: %w", py, err)
	}
	dir := strings.TrimSpace(string(out))
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("corpus: %s reports its standard library at %q, which is not a directory", py, dir)
	}
	return dir, nil
}

func readDirs(ctx context.Context, dirs []string) ([]Document, Stats, error) {
	var paths []string
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, Stats{}, fmt.Errorf("corpus: %w", err)
		}
		if !st.IsDir() {
			return nil, Stats{}, fmt.Errorf("corpus: %s is not a directory", dir)
		}
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					return nil // unreadable corners of a system directory
				}
				return err
			}
			if d.IsDir() {
				if p != dir && skipDirs[d.Name()] {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".py") {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			return nil, Stats{}, fmt.Errorf("corpus: %w", err)
		}
	}
	sort.Strings(paths)
	var docs []Document
	var st Stats
	seen := map[[32]byte]bool{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, Stats{}, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				continue
			}
			return nil, Stats{}, fmt.Errorf("corpus: %w", err)
		}
		switch sum := sha256.Sum256(b); {
		case len(strings.TrimSpace(string(b))) == 0:
			st.Empty++
		case len(b) > MaxFileBytes:
			st.TooLarge++
		case !utf8.Valid(b):
			st.NotUTF8++
		case seen[sum]:
			st.Duplicates++
		default:
			seen[sum] = true
			docs = append(docs, Document{Path: p, Text: strings.ReplaceAll(string(b), "\r\n", "\n")})
			st.Files++
			st.Bytes += len(b)
		}
	}
	if len(docs) == 0 {
		return nil, st, fmt.Errorf("corpus: no Python files under %s", strings.Join(dirs, ", "))
	}
	return docs, st, nil
}

// Chunks cuts documents into pieces of at most maxBytes, at line
// boundaries (a longer line is cut where it reaches the limit), in order.
func Chunks(docs []Document, maxBytes int) []string {
	var out []string
	for _, d := range docs {
		text := d.Text
		for len(text) > 0 {
			if len(text) <= maxBytes {
				out = append(out, text)
				break
			}
			cut := strings.LastIndexByte(text[:maxBytes], '\n') + 1
			if cut <= 0 {
				cut = maxBytes
			}
			out = append(out, text[:cut])
			text = text[cut:]
		}
	}
	return out
}
