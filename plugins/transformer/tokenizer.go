package transformer

import (
	"errors"
	"fmt"
	"sort"
)

// Tokenizer is a byte-level BPE tokenizer: ids 0..255 are the raw bytes and
// each later id is the merge of two earlier ids, in the order they were
// learned. Any byte string encodes, so there is no unknown token. Encode
// caches pieces it has seen, so a Tokenizer is not safe for concurrent use.
//
// It is written here rather than taken from a library because the Go BPE
// libraries available (tiktoken-go, sugarme/tokenizer) load pretrained
// vocabularies but cannot train one on our corpus, and the whole algorithm
// is about 200 lines.
type Tokenizer struct {
	// Merges[i] is the pair of ids merged into id 256+i.
	Merges [][2]int32 `json:"merges"`
	// SpaceTokens keeps spaces out of words (see chunks); the model's
	// space_tokens option, saved with its config.
	SpaceTokens bool `json:"-"`

	rank  map[[2]int32]int32 // pair -> merged id
	bytes [][]byte           // id -> bytes
	cache map[string][]int32 // chunk -> ids
}

// chunks splits text into pre-tokenization pieces so that merges never cross
// a boundary between, say, an identifier and an operator: a word may carry
// one leading space; runs of letters, digits, other spaces, newlines and
// punctuation are separate pieces. The space of a line that starts "$ " (the
// action prompt of core/episode) never joins the word after it: a command
// then tokenizes the same when the model writes it after the prompt and
// when a later turn's context reads it back, and a whole episode encodes
// as its contexts and targets encoded one by one.
//
// With spaceTokens no space joins a word: a word is then the same token
// wherever it stands (" chunk" in a program, "chunk" right after a
// command's ">>>"), so copying it from the context is copying a token.
func chunks(s string, spaceTokens bool) []string {
	var out []string
	i := 0
	for i < len(s) {
		start := i
		c := s[i]
		switch {
		case c == '\n' || c == '\r':
			for i < len(s) && (s[i] == '\n' || s[i] == '\r') {
				i++
			}
		case c == ' ' || c == '\t':
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			// A single space before a word joins the word (" return").
			if !spaceTokens && i < len(s) && i-start >= 1 && class(s[i]) != clsOther && class(s[i]) != clsSpace && !actionPrompt(s, start) {
				if i-start > 1 {
					i-- // leave the last space for the word
				} else {
					i = start + 1
					k := class(s[i])
					for i < len(s) && class(s[i]) == k {
						i++
					}
				}
			}
		default:
			k := class(c)
			for i < len(s) && class(s[i]) == k {
				i++
			}
		}
		out = append(out, s[start:i])
	}
	return out
}

// actionPrompt reports whether the spaces at s[start:] follow a "$" that
// begins a line.
func actionPrompt(s string, start int) bool {
	return start >= 1 && s[start-1] == '$' && (start == 1 || s[start-2] == '\n')
}

const (
	clsLetter = iota
	clsDigit
	clsSpace
	clsOther
)

func class(c byte) int {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
		return clsLetter
	case c >= '0' && c <= '9':
		return clsDigit
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		return clsSpace
	}
	return clsOther
}

// TrainTokenizer learns vocab-256 merges from corpus, chunked with or
// without words carrying a leading space (spaceTokens, see chunks). It
// stops early when no pair occurs at least twice.
func TrainTokenizer(corpus []string, vocab int, spaceTokens bool) (*Tokenizer, error) {
	if vocab < 256 {
		return nil, fmt.Errorf("transformer: vocab %d is below the 256 byte tokens", vocab)
	}
	freq := map[string]int{}
	for _, doc := range corpus {
		for _, c := range chunks(doc, spaceTokens) {
			freq[c]++
		}
	}
	type word struct {
		ids []int32
		n   int
	}
	words := make([]word, 0, len(freq))
	keys := make([]string, 0, len(freq))
	for k := range freq {
		keys = append(keys, k)
	}
	sort.Strings(keys) // map order must not decide ties
	for _, k := range keys {
		ids := make([]int32, len(k))
		for i := 0; i < len(k); i++ {
			ids[i] = int32(k[i])
		}
		words = append(words, word{ids, freq[k]})
	}
	// pairs counts every adjacent pair; where lists the words holding it so a
	// merge only revisits those words.
	pairs := map[[2]int32]int{}
	where := map[[2]int32]map[int]struct{}{}
	addWord := func(wi int, sign int) {
		w := words[wi]
		for j := 0; j+1 < len(w.ids); j++ {
			p := [2]int32{w.ids[j], w.ids[j+1]}
			pairs[p] += sign * w.n
			if sign > 0 {
				m := where[p]
				if m == nil {
					m = map[int]struct{}{}
					where[p] = m
				}
				m[wi] = struct{}{}
			}
		}
	}
	for wi := range words {
		addWord(wi, 1)
	}
	t := &Tokenizer{SpaceTokens: spaceTokens}
	for next := int32(256); int(next) < vocab; next++ {
		best, bestN := [2]int32{}, 1
		for p, n := range pairs {
			if n > bestN || (n == bestN && n > 1 && less(p, best)) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break
		}
		t.Merges = append(t.Merges, best)
		for wi := range where[best] {
			addWord(wi, -1)
			w := &words[wi]
			out := w.ids[:0]
			for j := 0; j < len(w.ids); j++ {
				if j+1 < len(w.ids) && w.ids[j] == best[0] && w.ids[j+1] == best[1] {
					out = append(out, next)
					j++
				} else {
					out = append(out, w.ids[j])
				}
			}
			w.ids = out
			addWord(wi, 1)
		}
		delete(where, best)
		for p, n := range pairs {
			if n <= 0 {
				delete(pairs, p)
			}
		}
	}
	t.build()
	return t, nil
}

func less(a, b [2]int32) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	return a[1] < b[1]
}

// build derives the lookup tables from Merges.
func (t *Tokenizer) build() {
	t.rank = make(map[[2]int32]int32, len(t.Merges))
	t.bytes = make([][]byte, 256+len(t.Merges))
	for i := 0; i < 256; i++ {
		t.bytes[i] = []byte{byte(i)}
	}
	for i, m := range t.Merges {
		id := int32(256 + i)
		t.rank[m] = id
		t.bytes[id] = append(append([]byte{}, t.bytes[m[0]]...), t.bytes[m[1]]...)
	}
	t.cache = map[string][]int32{}
}

// validate checks merges loaded from a checkpoint refer only to earlier ids.
func (t *Tokenizer) validate() error {
	for i, m := range t.Merges {
		if m[0] < 0 || m[1] < 0 || int(m[0]) >= 256+i || int(m[1]) >= 256+i {
			return fmt.Errorf("transformer: tokenizer merge %d refers to an unknown id (%d, %d)", i, m[0], m[1])
		}
	}
	return nil
}

// Size is the number of token ids.
func (t *Tokenizer) Size() int { return 256 + len(t.Merges) }

// Encode returns the token ids of s.
func (t *Tokenizer) Encode(s string) []int32 {
	if t.rank == nil { // built by hand from Merges
		t.build()
	}
	var out []int32
	for _, c := range chunks(s, t.SpaceTokens) {
		out = append(out, t.encodeChunk(c)...)
	}
	return out
}

func (t *Tokenizer) encodeChunk(c string) []int32 {
	if ids, ok := t.cache[c]; ok {
		return ids
	}
	ids := make([]int32, len(c))
	for i := 0; i < len(c); i++ {
		ids[i] = int32(c[i])
	}
	// Apply the earliest-learned merge present until none applies; this
	// reproduces the training-time segmentation.
	for len(ids) > 1 {
		bestJ, bestID := -1, int32(1<<30)
		for j := 0; j+1 < len(ids); j++ {
			if id, ok := t.rank[[2]int32{ids[j], ids[j+1]}]; ok && id < bestID {
				bestJ, bestID = j, id
			}
		}
		if bestJ < 0 {
			break
		}
		pair := [2]int32{ids[bestJ], ids[bestJ+1]}
		out := ids[:0]
		for j := 0; j < len(ids); j++ {
			if j+1 < len(ids) && ids[j] == pair[0] && ids[j+1] == pair[1] {
				out = append(out, bestID)
				j++
			} else {
				out = append(out, ids[j])
			}
		}
		ids = out
	}
	if len(t.cache) < 1<<16 {
		t.cache[c] = ids
	}
	return ids
}

// errBadToken reports an id outside the vocabulary.
var errBadToken = errors.New("transformer: token id out of range")

// Decode returns the bytes of ids as a string.
func (t *Tokenizer) Decode(ids []int32) (string, error) {
	if t.rank == nil {
		t.build()
	}
	var b []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.bytes) {
			return "", fmt.Errorf("%w: %d (vocab %d)", errBadToken, id, len(t.bytes))
		}
		b = append(b, t.bytes[id]...)
	}
	return string(b), nil
}

// tokenBytes returns the bytes of one id (valid ids only).
func (t *Tokenizer) tokenBytes(id int32) []byte { return t.bytes[id] }
