package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configures a Pool. Zero values mean the defaults in brackets.
type Options struct {
	// Workers is the number of warm interpreters [runtime.NumCPU()].
	Workers int
	// Timeout is the wall-clock limit of one check [5s]; Check.Timeout
	// overrides it. RLIMIT_CPU is set to the timeout rounded up, plus 1s.
	Timeout time.Duration
	// MemoryBytes is RLIMIT_AS of a check [1 GiB].
	MemoryBytes int64
	// OutputBytes caps stdout and stderr each (RLIMIT_FSIZE) [1 MiB].
	OutputBytes int64
	// MaxProcs is RLIMIT_NPROC of the check's uid [32].
	MaxProcs int
	// MaxFiles is RLIMIT_NOFILE [64].
	MaxFiles int
	// ShowBytes is how much of stdout and of stderr a failing verdict's
	// feedback shows [300].
	ShowBytes int
	// UIDBase: worker i runs its checks as uid (and gid) UIDBase+i, which
	// must be used by nothing else on the machine. Only used when the pool
	// runs as root. The default gives each pool of each process its own
	// range above 1,000,000 (no account uses those), so two pools never
	// share a uid's process limit or, without namespaces, kill each
	// other's leftovers.
	UIDBase int
	// Python is the interpreter; empty means python3 from PATH, resolved
	// to the real executable behind any shim.
	Python string
	// CacheSize is the number of verdicts kept [65536]; negative disables
	// the cache.
	CacheSize int
	// Log receives one line per worker start (the isolation layers) and
	// anything a worker prints [io.Discard].
	Log io.Writer
	// NoNamespaces skips the namespace layers (for measuring their cost).
	NoNamespaces bool
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 1 << 30
	}
	if o.OutputBytes <= 0 {
		o.OutputBytes = 1 << 20
	}
	if o.MaxProcs <= 0 {
		o.MaxProcs = 32
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = 64
	}
	if o.ShowBytes <= 0 {
		o.ShowBytes = 300
	}
	if o.UIDBase <= 0 {
		seq := int(poolSeq.Add(1) - 1)
		o.UIDBase = 1_000_000 + (os.Getpid()%100_000)*256 + (seq*o.Workers)%256
	}
	if o.CacheSize == 0 {
		o.CacheSize = 65536
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// poolSeq numbers the pools of this process, for their default uids.
var poolSeq atomic.Int64

// Stats counts what a pool has done.
type Stats struct {
	Checks    int64 // Run calls that returned a verdict
	CacheHits int64 // verdicts served from the cache
	Executed  int64 // children run (programs and references)
	Replaced  int64 // workers killed and replaced (timeouts, crashes, cancellations)
}

// HitRate is CacheHits/Checks, or 0 before any check.
func (s Stats) HitRate() float64 {
	if s.Checks == 0 {
		return 0
	}
	return float64(s.CacheHits) / float64(s.Checks)
}

// Pool runs checks on warm sandboxed Python workers. It is safe for
// concurrent use; Run blocks while every worker is busy.
type Pool struct {
	opts   Options
	python string
	iso    Isolation
	mode   nsMode

	idle chan *worker
	done chan struct{}

	mu      sync.Mutex
	closed  bool
	workers map[*worker]struct{}
	bg      sync.WaitGroup

	cache    *lru[Verdict]
	refCache *lru[*reply]

	checks, hits, executed, replaced atomic.Int64
	nextID                           atomic.Uint64
}

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("sandbox: pool closed")

// NewPool resolves the interpreter, starts the workers and detects which
// isolation layers work. It refuses to start without at least rlimits, a
// timeout and process-group kill.
func NewPool(ctx context.Context, opts Options) (*Pool, error) {
	opts = opts.withDefaults()
	py, err := resolvePython(ctx, opts.Python)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		opts:     opts,
		python:   py,
		idle:     make(chan *worker, opts.Workers),
		done:     make(chan struct{}),
		workers:  map[*worker]struct{}{},
		cache:    newLRU[Verdict](opts.CacheSize),
		refCache: newLRU[*reply](max(opts.CacheSize/4, 64)),
	}
	first, mode, err := p.startFirst(ctx)
	if err != nil {
		return nil, err
	}
	p.mode = mode
	p.iso = first.iso
	if !p.iso.Rlimits {
		first.kill()
		return nil, fmt.Errorf("sandbox: refusing to run untrusted code: rlimits cannot be set (%s)", p.iso)
	}
	fmt.Fprintf(opts.Log, "lathe-sandbox: %s, isolation: %s\n", py, p.iso)
	p.idle <- first
	for i := 1; i < opts.Workers; i++ {
		w, err := p.startWorker(ctx, i, p.mode)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.idle <- w
	}
	return p, nil
}

// Isolation reports the layers active in this pool's workers.
func (p *Pool) Isolation() Isolation { return p.iso }

// Python is the resolved interpreter the workers run.
func (p *Pool) Python() string { return p.python }

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	return Stats{Checks: p.checks.Load(), CacheHits: p.hits.Load(), Executed: p.executed.Load(), Replaced: p.replaced.Load()}
}

// Close kills every worker. Runs in flight return an error.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	ws := make([]*worker, 0, len(p.workers))
	for w := range p.workers {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
	p.bg.Wait()
	if p.mode == nsNone {
		for i := range p.opts.Workers {
			os.RemoveAll(p.workdir(i))
		}
	}
	return nil
}

// Run runs one check. The error is non-nil only when no verdict could be
// produced (the context ended, the pool closed, no worker could start).
func (p *Pool) Run(ctx context.Context, c Check) (Verdict, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = p.opts.Timeout
	}
	key := cacheKey(c, timeout)
	start := time.Now()
	if v, ok := p.cache.get(key); ok {
		p.checks.Add(1)
		p.hits.Add(1)
		v.Cached = true
		v.Duration = time.Since(start)
		v.DurationMS = float64(v.Duration.Microseconds()) / 1000
		return v, nil
	}
	var v Verdict
	var r *reply
	if c.Reference != "" {
		ref, err := p.reference(ctx, c, timeout)
		if err != nil {
			return Verdict{}, err
		}
		if r, err = p.exec(ctx, "values+strip", c.Setup, c.Program, c.Tests, timeout); err != nil {
			return Verdict{}, err
		}
		v = p.verdict(c, r, ref, timeout)
	} else {
		var err error
		if r, err = p.exec(ctx, "check", c.Setup, c.Program, c.Tests, timeout); err != nil {
			return Verdict{}, err
		}
		v = p.verdict(c, r, nil, timeout)
	}
	v.Duration = time.Since(start)
	v.DurationMS = float64(v.Duration.Microseconds()) / 1000
	p.checks.Add(1)
	if cacheable(v, r, timeout) {
		p.cache.put(key, v)
	}
	return v, nil
}

// spinShare is the share of the wall-clock limit a timed-out program must
// have spent on the CPU for its timeout to be cached: it was running, not
// waiting for a core, so it would time out again on an idle machine.
const spinShare = 0.8

// cacheable reports whether v is a pure function of its check, so that the
// same check may be answered from the cache. Most verdicts are. A kill
// (the worker died) is not, and neither is a wall-clock timeout of a
// program that got less than spinShare of a core: under load a program
// that passes in time on an idle machine can run out of wall clock. The
// CPU limit (SIGXCPU) counts CPU time, so its timeouts are cached; so are
// those of programs that spun (an infinite loop, the common case in
// corrupted code, each costing a full timeout every time it is seen
// otherwise).
func cacheable(v Verdict, r *reply, timeout time.Duration) bool {
	switch v.Status {
	case StatusKilled:
		return false
	case StatusTimeout:
		return signalled(r, syscall.SIGXCPU) || (r.TimedOut && r.CPUSeconds >= spinShare*timeout.Seconds())
	}
	return true
}

// RunBatch runs checks concurrently (at most one per worker) and returns
// their verdicts in order. On error the verdicts of unfinished checks are
// zero.
func (p *Pool) RunBatch(ctx context.Context, cs []Check) ([]Verdict, error) {
	out := make([]Verdict, len(cs))
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		errMu sync.Mutex
		first error
	)
	n := min(p.opts.Workers, len(cs))
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(cs) {
					return
				}
				v, err := p.Run(ctx, cs[i])
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					return
				}
				out[i] = v
			}
		}()
	}
	wg.Wait()
	return out, first
}

// reference returns the reference program's run in values mode, cached by
// (setup, reference, tests, timeout).
func (p *Pool) reference(ctx context.Context, c Check, timeout time.Duration) (*reply, error) {
	key := cacheKey(Check{Setup: c.Setup, Program: c.Reference, Tests: c.Tests, Reference: "\x00ref"}, timeout)
	if r, ok := p.refCache.get(key); ok {
		return r, nil
	}
	r, err := p.exec(ctx, "values", c.Setup, c.Reference, c.Tests, timeout)
	if err != nil {
		return nil, err
	}
	if !r.TimedOut && r.Signal == nil {
		p.refCache.put(key, r)
	}
	return r, nil
}

// exec runs one job on a worker and returns the worker's raw reply.
func (p *Pool) exec(ctx context.Context, mode, setup, program, tests string, timeout time.Duration) (*reply, error) {
	w, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	// "values+strip" is values mode with the tests' literal operands
	// removed before the program's child sees them.
	mode, strip := strings.CutSuffix(mode, "+strip")
	j := job{
		ID: p.nextID.Add(1), Mode: mode, Strip: strip, Setup: setup, Program: program, Tests: tests,
		Timeout: timeout.Seconds(), Nonce: hex.EncodeToString(nonce),
	}
	p.executed.Add(1)
	// The worker enforces the timeout itself; the host's deadline only
	// catches a worker that stopped answering.
	r, err := w.do(ctx, j, timeout+3*time.Second)
	if err != nil {
		p.replace(w)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sandbox: %w", ctx.Err())
		}
		if errors.Is(err, errHung) {
			// A worker that neither finished nor answered: the check
			// is treated as timed out.
			return &reply{ID: j.ID, TimedOut: true, nonce: j.Nonce}, nil
		}
		return &reply{ID: j.ID, workerDied: true, nonce: j.Nonce}, nil
	}
	r.nonce = j.Nonce
	p.release(w)
	return r, nil
}

func (p *Pool) acquire(ctx context.Context) (*worker, error) {
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	// A done context must not win a worker only to kill it.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	select {
	case w := <-p.idle:
		if w.dead() {
			nw, err := p.startWorker(ctx, w.index, p.mode)
			if err != nil {
				p.idle <- w // keep the slot so later calls can retry
				return nil, err
			}
			w = nw
		}
		return w, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sandbox: %w", ctx.Err())
	case <-p.done:
		return nil, ErrClosed
	}
}

func (p *Pool) release(w *worker) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		w.kill()
		return
	}
	p.idle <- w
}

// replace kills w and starts its successor in the background; the slot
// goes back to the idle queue either way, so waiting callers never hang.
func (p *Pool) replace(w *worker) {
	w.kill()
	p.replaced.Add(1)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.bg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		nw, err := p.startWorker(ctx, w.index, p.mode)
		if err != nil {
			fmt.Fprintf(p.opts.Log, "lathe-sandbox: restarting worker %d: %v\n", w.index, err)
			p.idle <- w // dead: the next acquire retries the start
			return
		}
		p.release(nw)
	}()
}

func (p *Pool) track(w *worker, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.workers[w] = struct{}{}
	} else {
		delete(p.workers, w)
	}
	return true
}

func cacheKey(c Check, timeout time.Duration) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{c.Setup, c.Program, c.Tests, c.Reference} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
	binary.LittleEndian.PutUint64(n[:], uint64(timeout))
	h.Write(n[:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Interpreter is the real interpreter the sandbox runs for py ("" means
// python3 on PATH): `python3` may be a pyenv shim costing ~300 ms per
// start, so it is asked once for sys.executable.
func Interpreter(ctx context.Context, py string) (string, error) { return resolvePython(ctx, py) }

func resolvePython(ctx context.Context, py string) (string, error) {
	if py == "" {
		py = "python3"
	}
	return realInterpreter(ctx, py)
}

// Workers is the number of warm interpreters.
func (p *Pool) Workers() int { return p.opts.Workers }
