package transformer

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestChunks(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"def f(x):", []string{"def", " f", "(", "x", "):"}},
		{"    return x1\n\n", []string{"   ", " return", " x", "1", "\n\n"}},
		{"a  = 10", []string{"a", "  ", "=", " 10"}},
		{"$ REPL 2 >>>x", []string{"$", " ", "REPL", " 2", " ", ">>>", "x"}},
		{"***\n$ EXIT\n", []string{"***", "\n", "$", " ", "EXIT", "\n"}},
		{"x = $ y", []string{"x", " ", "=", " ", "$", " y"}},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := chunks(tc.in, false); !slices.Equal(got, tc.want) {
				t.Fatalf("chunks(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	corpus := []string{"def add(a, b):\n    return a + b\n", "def sub(a, b):\n    return a - b\n", "L 1 def f():\nREPL 2 >>>    return 1\n"}
	tok, err := TrainTokenizer(corpus, 300, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Merges) == 0 {
		t.Fatal("no merges learned")
	}
	tests := []string{"def add(a, b):\n    return a + b\n", "unseen text \x00\xff ünïcode", "", "REPW 3 >>>x >>>y"}
	for _, s := range tests {
		t.Run(s, func(t *testing.T) {
			ids := tok.Encode(s)
			got, err := tok.Decode(ids)
			if err != nil || got != s {
				t.Fatalf("decode(encode(%q)) = %q, %v", s, got, err)
			}
		})
	}
	// A frequent word compresses to fewer tokens than bytes.
	if n := len(tok.Encode("    return a")); n >= len("    return a") {
		t.Fatalf("no compression: %d tokens", n)
	}
	again, _ := TrainTokenizer(corpus, 300, false)
	if !slices.Equal(again.Merges, tok.Merges) {
		t.Fatal("training is not deterministic")
	}
	if _, err := tok.Decode([]int32{int32(tok.Size())}); err == nil {
		t.Fatal("decoding an out-of-range id succeeded")
	}
}

// TestTokenizerSpeedMBPP trains a 1024-token vocabulary on MBPP's code and
// text (about 0.5 MB) and requires it to take under 10 s.
func TestTokenizerSpeedMBPP(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "datasets", "mbpp", "mbpp.jsonl")
	if d := os.Getenv("LATHE_DATASETS"); d != "" {
		path = filepath.Join(d, "mbpp", "mbpp.jsonl")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("MBPP not found at %s (set LATHE_DATASETS): %v", path, err)
	}
	defer f.Close()
	var corpus []string
	size := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Text string `json:"text"`
			Code string `json:"code"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		corpus = append(corpus, rec.Text, rec.Code)
		size += len(rec.Text) + len(rec.Code)
	}
	start := time.Now()
	tok, err := TrainTokenizer(corpus, 1024, false)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	var n int
	for _, c := range corpus {
		n += len(tok.Encode(c))
	}
	t.Logf("%d bytes, vocab %d, trained in %v, %.2f bytes/token", size, tok.Size(), el, float64(size)/float64(n))
	if el > 10*time.Second {
		t.Fatalf("training took %v", el)
	}
}

// FuzzTokenizer: any byte string survives encode then decode, and every id
// is in range. Run with go test -fuzz FuzzTokenizer ./plugins/transformer/.
func FuzzTokenizer(f *testing.F) {
	tok, err := TrainTokenizer([]string{"def f(x):\n    return x + 1\n", "REPL 2 >>>    return x\n", "assert f(1) == 2"}, 320, false)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "def", "  \t\n\r\n", "\xff\xfe", "REPW 3 >>>a >>>b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		for _, id := range ids {
			if id < 0 || int(id) >= tok.Size() {
				t.Fatalf("id %d out of range %d", id, tok.Size())
			}
		}
		got, err := tok.Decode(ids)
		if err != nil || got != s {
			t.Fatalf("round trip of %q gave %q, %v", s, got, err)
		}
	})
}

// TestSpaceTokens: with space_tokens a word is one token wherever it
// stands, so the name a command copies is the token the program holds; the
// option survives a checkpoint.
func TestSpaceTokens(t *testing.T) {
	if got, want := chunks("    if x in chunk:", true), []string{"    ", "if", " ", "x", " ", "in", " ", "chunk", ":"}; !slices.Equal(got, want) {
		t.Errorf("chunks = %q, want %q", got, want)
	}
	ctx := context.Background()
	corpus := []string{"L 5         if not chunk or \"=\" not in chukn:\n$ REPW 5 >>>chukn >>>chunk\n", "for chunk in text:\n    chunk = chunk.strip()\n"}
	for _, spaces := range []bool{false, true} {
		m := tinyModel(t, map[string]any{"space_tokens": spaces})
		if err := m.FitTokenizer(ctx, corpus); err != nil {
			t.Fatal(err)
		}
		inCode := m.tok.Encode(" chunk")
		inCommand := m.tok.Encode(">>>chunk")
		same := slices.Equal(inCode[len(inCode)-1:], inCommand[len(inCommand)-1:]) && len(inCode) == 2 && len(inCommand) == 2
		if same != spaces {
			t.Errorf("space_tokens=%v: \" chunk\" is %v, \">>>chunk\" is %v", spaces, inCode, inCommand)
		}
		dir := filepath.Join(t.TempDir(), "ck")
		if err := m.Save(ctx, dir); err != nil {
			t.Fatal(err)
		}
		m2 := New()
		if err := m2.Load(ctx, dir); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m2.tok.Encode(corpus[0]), m.tok.Encode(corpus[0])) {
			t.Errorf("space_tokens=%v: loaded tokenizer encodes differently", spaces)
		}
	}
}
