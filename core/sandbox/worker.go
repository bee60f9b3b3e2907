package sandbox

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed worker.py
var workerSource string

// nsMode is how a worker process is started.
type nsMode int

const (
	nsRoot nsMode = iota // real root: new PID, mount and network namespaces
	nsUser               // unprivileged: the same inside a new user namespace
	nsNone               // no namespaces: rlimits, timeout and group kill only
)

func (m nsMode) String() string {
	return [...]string{"root namespaces", "user namespaces", "no namespaces"}[m]
}

// Isolation lists the layers active in a pool's workers.
type Isolation struct {
	Rlimits          bool   // RLIMIT_CPU, AS, NPROC, FSIZE, NOFILE, CORE
	Timeout          bool   // wall-clock limit enforced by the worker and the host
	ProcessGroupKill bool   // the check's process group is killed at the end
	UIDDrop          bool   // checks run as an unprivileged uid
	UID              int    // the first worker's check uid, when UIDDrop
	UserNamespace    bool   // workers run inside a user namespace
	PIDNamespace     bool   // each worker is init of its own PID namespace
	NetNamespace     bool   // no network devices at all (not even loopback up)
	MountNamespace   bool   // private mounts
	PrivateTmp       bool   // /tmp is an empty tmpfs per check
	ReadOnlyRoot     bool   // / is read-only inside the sandbox
	Subreaper        bool   // orphans of a check are reaped and killed
	Mode             string // how workers were started
}

func (i Isolation) String() string {
	var on []string
	add := func(b bool, s string) {
		if b {
			on = append(on, s)
		}
	}
	add(i.Rlimits, "rlimits")
	add(i.Timeout, "timeout")
	add(i.ProcessGroupKill, "group-kill")
	add(i.UIDDrop, fmt.Sprintf("uid-drop(%d+)", i.UID))
	add(i.UserNamespace, "userns")
	add(i.PIDNamespace, "pidns")
	add(i.NetNamespace, "netns")
	add(i.MountNamespace, "mountns")
	add(i.PrivateTmp, "private-tmp")
	add(i.ReadOnlyRoot, "readonly-root")
	add(i.Subreaper, "reaper")
	return strings.Join(on, ",") + " [" + i.Mode + "]"
}

type job struct {
	ID      uint64  `json:"id"`
	Mode    string  `json:"mode"` // "check" or "values"
	Strip   bool    `json:"strip,omitempty"`
	Setup   string  `json:"setup"`
	Program string  `json:"program"`
	Tests   string  `json:"tests"`
	Timeout float64 `json:"timeout"`
	Nonce   string  `json:"nonce"`
}

type testSource struct {
	Text string `json:"text"`
	Line int    `json:"line"`
}

// literal is a literal operand the worker removed from a test before the
// program's child saw it, with the value the host compares instead.
type literal struct {
	Operand int    `json:"k"`
	Canon   string `json:"c"`
	Repr    string `json:"r"`
}

// reply is a worker's answer to one job, as raw as the worker saw it.
type reply struct {
	Hello    map[string]any `json:"hello"`
	ID       uint64         `json:"id"`
	TimedOut bool           `json:"timed_out"`
	// CPUSeconds is the CPU time a timed-out child had used when it was
	// killed.
	CPUSeconds float64      `json:"cpu_s"`
	Signal     *int         `json:"signal"`
	Exit       *int         `json:"exit"`
	Records    string       `json:"records"`
	Stdout     string       `json:"stdout"`
	Stderr     string       `json:"stderr"`
	StdoutSize int64        `json:"stdout_size"`
	StderrSize int64        `json:"stderr_size"`
	Tests      []testSource `json:"tests"`
	Lits       [][]literal  `json:"lits"`
	TestsError string       `json:"tests_error"`

	nonce      string
	workerDied bool
}

type frame struct {
	r   *reply
	err error
}

// worker is one warm interpreter process.
type worker struct {
	index   int
	cmd     *exec.Cmd
	in      *os.File // jobs to the worker (its fd 3)
	out     chan frame
	iso     Isolation
	killed  sync.Once
	exited  chan struct{}
	started bool
}

var errHung = errors.New("sandbox: worker did not answer")

func (w *worker) dead() bool {
	if !w.started {
		return true
	}
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// kill ends the worker; as init of its PID namespace its death takes every
// process of its checks with it.
func (w *worker) kill() {
	if !w.started {
		return
	}
	w.killed.Do(func() {
		w.cmd.Process.Kill()
		w.in.Close()
	})
	<-w.exited
}

// do sends one job and waits for its reply.
func (w *worker) do(ctx context.Context, j job, deadline time.Duration) (*reply, error) {
	data, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("sandbox: encoding job: %w", err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	// The worker reads whole frames promptly; a write that blocks means it
	// died, which closes the pipe and fails the write.
	if _, err := w.in.Write(append(hdr[:], data...)); err != nil {
		return nil, fmt.Errorf("sandbox: worker %d: %w", w.index, err)
	}
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case f, ok := <-w.out:
		if !ok {
			return nil, fmt.Errorf("sandbox: worker %d exited", w.index)
		}
		if f.err != nil {
			return nil, f.err
		}
		if f.r.ID != j.ID {
			return nil, fmt.Errorf("sandbox: worker %d answered job %d, want %d", w.index, f.r.ID, j.ID)
		}
		return f.r, nil
	case <-t.C:
		return nil, errHung
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Pool) startFirst(ctx context.Context) (*worker, nsMode, error) {
	modes := []nsMode{nsRoot, nsUser, nsNone}
	if os.Geteuid() != 0 {
		modes = modes[1:]
	}
	if p.opts.NoNamespaces {
		modes = []nsMode{nsNone}
	}
	var errs []error
	for _, m := range modes {
		w, err := p.startWorker(ctx, 0, m)
		if err == nil {
			return w, m, nil
		}
		fmt.Fprintf(p.opts.Log, "lathe-sandbox: %s unavailable: %v\n", m, err)
		errs = append(errs, err)
	}
	return nil, 0, fmt.Errorf("sandbox: no worker could start: %w", errors.Join(errs...))
}

func (p *Pool) workdir(index int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("lathe-sandbox-%d-%d", os.Getpid(), index))
}

func (p *Pool) startWorker(ctx context.Context, index int, mode nsMode) (*worker, error) {
	uid := p.opts.UIDBase + index
	workdir := "/tmp"
	if mode == nsNone {
		workdir = p.workdir(index)
	}
	cfg, _ := json.Marshal(map[string]any{
		"index": index, "uid": uid, "pidns": mode != nsNone, "mountns": mode != nsNone,
		"workdir": workdir, "tmp_kb": 64 << 10, "memory_bytes": p.opts.MemoryBytes,
		"output_bytes": p.opts.OutputBytes, "max_procs": p.opts.MaxProcs,
		"max_files": p.opts.MaxFiles, "show_bytes": p.opts.ShowBytes + 8,
	})
	// -S -s -P -B: no site, no user site, no script dir on sys.path, no
	// bytecode writes. Not -I: it implies -E, which would drop the fixed
	// PYTHONHASHSEED that keeps set order, and so feedback, deterministic.
	// The environment is built from scratch, so -E has nothing to protect.
	cmd := exec.Command(p.python, "-S", "-s", "-P", "-B", "-c", workerSource, string(cfg))
	cmd.Env = []string{"PYTHONHASHSEED=0", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
		"HOME=" + workdir, "TMPDIR=" + workdir}
	cmd.Dir = "/"
	jobR, jobW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		jobR.Close()
		jobW.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	cmd.ExtraFiles = []*os.File{jobR, repW}
	logw := &prefixWriter{w: p.opts.Log}
	cmd.Stdout, cmd.Stderr = logw, logw
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	switch mode {
	case nsRoot:
		attr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET
	case nsUser:
		attr.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	case nsNone:
		attr.Setpgid = true
	}
	cmd.SysProcAttr = attr
	// Bound Wait even if something still holds the log pipe.
	cmd.WaitDelay = 2 * time.Second
	w := &worker{index: index, cmd: cmd, in: jobW, out: make(chan frame, 1), exited: make(chan struct{})}
	if !p.track(w, true) {
		jobR.Close()
		jobW.Close()
		repR.Close()
		repW.Close()
		return nil, ErrClosed
	}
	if err := cmd.Start(); err != nil {
		p.track(w, false)
		jobR.Close()
		jobW.Close()
		repR.Close()
		repW.Close()
		return nil, fmt.Errorf("sandbox: starting %s (%s): %w", p.python, mode, err)
	}
	w.started = true
	jobR.Close()
	repW.Close()
	go func() {
		cmd.Wait()
		repR.Close()
		p.track(w, false)
		close(w.exited)
	}()
	go readFrames(repR, w.out)

	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case f, ok := <-w.out:
		if !ok || f.err != nil || f.r.Hello == nil {
			w.kill()
			msg := logw.tail()
			if f.err != nil {
				msg = f.err.Error() + "; " + msg
			}
			return nil, fmt.Errorf("sandbox: worker %d (%s) failed to start: %s", index, mode, msg)
		}
		w.iso = isolationFrom(f.r.Hello, mode, uid)
		if mode != nsNone && !w.iso.PrivateTmp {
			w.kill()
			return nil, fmt.Errorf("sandbox: worker %d (%s): private mounts failed: %s", index, mode, logw.tail())
		}
		return w, nil
	case <-t.C:
		w.kill()
		return nil, fmt.Errorf("sandbox: worker %d (%s) did not start in 30s", index, mode)
	case <-ctx.Done():
		w.kill()
		return nil, fmt.Errorf("sandbox: %w", ctx.Err())
	}
}

func isolationFrom(h map[string]any, mode nsMode, uid int) Isolation {
	b := func(k string) bool { v, _ := h[k].(bool); return v }
	iso := Isolation{
		Rlimits: b("rlimits"), Timeout: true, ProcessGroupKill: true,
		UIDDrop: b("uid_drop"), UserNamespace: mode == nsUser,
		PIDNamespace: b("pid_namespace"), NetNamespace: mode != nsNone,
		MountNamespace: mode != nsNone, PrivateTmp: b("private_tmp") && mode != nsNone,
		ReadOnlyRoot: b("readonly_root"), Subreaper: b("subreaper"), Mode: mode.String(),
	}
	if iso.UIDDrop {
		iso.UID = uid
	}
	return iso
}

// readFrames delivers the worker's length-prefixed JSON replies.
func readFrames(r io.ReadCloser, out chan<- frame) {
	defer close(out)
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		var rp reply
		if err := json.Unmarshal(buf, &rp); err != nil {
			out <- frame{err: fmt.Errorf("sandbox: bad reply from worker: %w", err)}
			return
		}
		out <- frame{r: &rp}
	}
}

// prefixWriter forwards a worker's own output to the log and keeps the
// last lines for start-up errors.
type prefixWriter struct {
	mu   sync.Mutex
	w    io.Writer
	last []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w.Write(b)
	p.last = append(p.last, b...)
	if len(p.last) > 2048 {
		p.last = p.last[len(p.last)-2048:]
	}
	return len(b), nil
}

func (p *prefixWriter) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := strings.TrimSpace(string(p.last))
	if s == "" {
		return "no output"
	}
	return s
}

// realInterpreter asks py for sys.executable once and resolves symlinks,
// so a pyenv shim is never started per worker.
func realInterpreter(ctx context.Context, py string) (string, error) {
	path, err := exec.LookPath(py)
	if err != nil {
		return "", fmt.Errorf("sandbox: python interpreter: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-S", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("sandbox: running %s: %w", path, err)
	}
	real := strings.TrimSpace(string(out))
	if real == "" {
		return "", fmt.Errorf("sandbox: %s did not report sys.executable", path)
	}
	if r, err := filepath.EvalSymlinks(real); err == nil {
		real = r
	}
	return real, nil
}
