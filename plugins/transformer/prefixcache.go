package transformer

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
)

// The prefix cache keeps the keys and values of prompt prefixes across
// Generate calls, so an episode's next turn (the previous context, the
// command and the new state) prefills only what is new, and every episode
// of an eval shares the prompt's blocks: the idea of vLLM's automatic
// prefix caching and SGLang's radix cache. Prompts are cut into blocks of
// prefixBlock tokens; a block is addressed by a hash of every token from
// the start of the prompt to its end, so it is found only where the whole
// prefix matches (a key and value depend on every token before them, and
// on the position, which the prefix length fixes). Blocks live in a least
// recently used list under a memory budget. Weights that change (a
// training step, a load) empty it.

// prefixBlock is the block size in tokens: small enough that a turn's
// shared prefix is nearly all reused, large enough that lookups and
// copies stay cheap next to the model's work.
const prefixBlock = 32

type blockKey [32]byte

// kvBlock is one block's keys and values per layer ([prefixBlock, C]
// each), and with the copy head its copy keys and tokens.
type kvBlock struct {
	key  blockKey
	k, v [][]float32
	ck   []float32
	tok  []int32
}

type prefixCache struct {
	maxBlocks int
	version   uint64 // the weights the blocks were computed with
	blocks    map[blockKey]*list.Element
	lru       *list.List // front: most recently used
	// counters for the log and tests: prompt tokens found in the cache
	// and prompt tokens that were prefilled
	reused, prefilled int64
}

// newPrefixCache holds at most budgetMB of blocks for network a; nil when
// the budget is zero.
func newPrefixCache(a arch, budgetMB int) *prefixCache {
	if budgetMB <= 0 {
		return nil
	}
	per := blockBytes(a)
	return &prefixCache{maxBlocks: max(1, budgetMB<<20/per), blocks: map[blockKey]*list.Element{}, lru: list.New()}
}

func blockBytes(a arch) int {
	floats := 2 * a.Layers * prefixBlock * a.DModel
	if a.Copy {
		floats += prefixBlock*a.DModel + prefixBlock // copy keys, and tokens (4 bytes each too)
	}
	return 4 * floats
}

// reset empties the cache when the weights are not those its blocks were
// computed with.
func (c *prefixCache) reset(version uint64) {
	if c.version == version {
		return
	}
	c.version = version
	clear(c.blocks)
	c.lru.Init()
}

// chainKeys returns the keys of the full blocks of prompt[:n].
func chainKeys(prompt []int32, n int) []blockKey {
	var out []blockKey
	var prev blockKey
	buf := make([]byte, 32+4*prefixBlock)
	for end := prefixBlock; end <= n; end += prefixBlock {
		copy(buf, prev[:])
		for i, t := range prompt[end-prefixBlock : end] {
			binary.LittleEndian.PutUint32(buf[32+4*i:], uint32(t))
		}
		prev = sha256.Sum256(buf)
		out = append(out, prev)
	}
	return out
}

// lookup copies into cache slot the longest run of cached blocks that
// starts the prompt and returns how many tokens it covers. The last
// prompt token is never taken from the cache: its logits are needed.
func (c *prefixCache) lookup(prompt []int32, cache *kvCache, slot, C int) int {
	keys := chainKeys(prompt, len(prompt)-1)
	base := cache.base[slot]
	n := 0
	for j, key := range keys {
		el, ok := c.blocks[key]
		if !ok {
			break
		}
		c.lru.MoveToFront(el)
		b := el.Value.(*kvBlock)
		at := base + j*prefixBlock
		for l := range cache.k {
			copy(cache.k[l][at*C:(at+prefixBlock)*C], b.k[l])
			copy(cache.v[l][at*C:(at+prefixBlock)*C], b.v[l])
		}
		if cache.ck != nil {
			copy(cache.ck[at*C:(at+prefixBlock)*C], b.ck)
			copy(cache.tok[at:at+prefixBlock], b.tok)
		}
		n = (j + 1) * prefixBlock
	}
	return n
}

// store adds the prompt's full blocks (its keys and values now in cache
// slot) that the cache lacks, evicting the least recently used.
func (c *prefixCache) store(prompt []int32, cache *kvCache, slot, C int) {
	base := cache.base[slot]
	for j, key := range chainKeys(prompt, len(prompt)) {
		if el, ok := c.blocks[key]; ok {
			c.lru.MoveToFront(el)
			continue
		}
		at := base + j*prefixBlock
		b := &kvBlock{key: key}
		for l := range cache.k {
			b.k = append(b.k, append([]float32(nil), cache.k[l][at*C:(at+prefixBlock)*C]...))
			b.v = append(b.v, append([]float32(nil), cache.v[l][at*C:(at+prefixBlock)*C]...))
		}
		if cache.ck != nil {
			b.ck = append([]float32(nil), cache.ck[at*C:(at+prefixBlock)*C]...)
			b.tok = append([]int32(nil), cache.tok[at:at+prefixBlock]...)
		}
		c.blocks[key] = c.lru.PushFront(b)
		for c.lru.Len() > c.maxBlocks {
			old := c.lru.Back()
			c.lru.Remove(old)
			delete(c.blocks, old.Value.(*kvBlock).key)
		}
	}
}

// maxPrefillRows bounds the rows of one step() call when prefilling the
// uncached rest of prompts, so its buffers stay small.
const maxPrefillRows = 2048

// prefillCached is prefill with the prefix cache: each prompt takes its
// longest cached prefix, and the rest of its tokens run through step() as
// one run of rows (step writes every row's keys and values before any row
// attends, so rows of one prompt see each other causally, exactly as the
// full forward pass, and a run's attention is one matrix product per
// block of rows). Prompts with nothing cached go through the
// batched full forward pass, which is faster for long runs of tokens.
// Every prompt's full blocks are then stored.
func (m *Model) prefillCached(prompts [][]int32, cache *kvCache, slots []int) ([]float32, error) {
	net, pc := m.net, m.prefix
	pc.reset(m.version)
	C, V := net.DModel, net.Vocab
	out := make([]float32, len(prompts)*V)
	var cold []int
	var toks []int32
	var pos, rowSlot, owner []int
	for i, p := range prompts {
		n := pc.lookup(p, cache, slots[i], C)
		pc.reused += int64(n)
		pc.prefilled += int64(len(p) - n)
		if n == 0 {
			cold = append(cold, i)
			continue
		}
		for t := n; t < len(p); t++ {
			toks, pos, rowSlot, owner = append(toks, p[t]), append(pos, t), append(rowSlot, slots[i]), append(owner, i)
		}
	}
	if len(cold) > 0 {
		ps, ss := make([][]int32, len(cold)), make([]int, len(cold))
		for j, i := range cold {
			ps[j], ss[j] = prompts[i], slots[i]
		}
		logits, err := net.prefill(ps, cache, ss, m.cfg.BatchTokens)
		if err != nil {
			return nil, err
		}
		for j, i := range cold {
			copy(out[i*V:(i+1)*V], logits[j*V:(j+1)*V])
		}
	}
	// A prompt's rows must share one step() call: cut chunks between prompts.
	var buf decodeBuf
	for lo := 0; lo < len(toks); {
		hi := lo
		for hi < len(toks) {
			end := hi
			for end < len(toks) && owner[end] == owner[hi] {
				end++
			}
			if hi > lo && end-lo > maxPrefillRows {
				break
			}
			hi = end
		}
		var want []int // each prompt's last row: its logits are the first token's
		for r := lo; r < hi; r++ {
			if r+1 == hi || owner[r+1] != owner[r] {
				want = append(want, r-lo)
			}
		}
		logits := net.step(&buf, cache, toks[lo:hi], pos[lo:hi], rowSlot[lo:hi], want)
		for k, r := range want {
			i := owner[lo+r]
			copy(out[i*V:(i+1)*V], logits[k*V:(k+1)*V])
		}
		lo = hi
	}
	for i, p := range prompts {
		pc.store(p, cache, slots[i], C)
	}
	return out, nil
}
