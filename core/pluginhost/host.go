// Package pluginhost launches Lathe plugins as go-plugin processes and hands
// the core sdk.Tool, sdk.Reward and sdk.Model values that call them over
// gRPC. It owns the processes: each runs in its own process group, its
// stderr goes to the host's logger under the plugin's label, and a plugin
// that dies mid-call turns into an error naming it, with its last log lines.
//
// It does not decode configuration or know which plugins are built in: a
// plugin name without a path separator is served by re-executing the lathe
// binary as `lathe plugin serve NAME`, which reports unknown names itself.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// Options configures a Host. The zero value works.
type Options struct {
	// Logger receives every plugin's stderr lines, named after the plugin's
	// label. Default: discard (crash errors still carry the last lines).
	Logger hclog.Logger
	// Executable is the binary that serves built-ins as
	// `Executable plugin serve NAME`. Default: os.Executable().
	Executable string
	// StartTimeout bounds the handshake. Default: 20s.
	StartTimeout time.Duration
}

// Host starts plugins and kills them. It is safe for concurrent use.
type Host struct {
	opts Options

	mu        sync.Mutex
	instances map[*Instance]struct{}
	schemas   map[string]sdk.Schema
}

// New returns a host.
func New(opts Options) *Host {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 20 * time.Second
	}
	return &Host{opts: opts, instances: map[*Instance]struct{}{}, schemas: map[string]sdk.Schema{}}
}

// Instance is one running plugin process.
type Instance struct {
	host   *Host
	kind   sdk.Kind
	label  string
	plugin string
	name   string // `plugin "editor" (coedit)`, how errors name it
	pid    int

	client *goplugin.Client
	abort  context.CancelFunc // kills the group while the handshake runs
	logs   *logTail
	caps   []string

	// The plugin of the kind it was started as, implementing the optional
	// interfaces in caps and no others (narrow.go); the rest are nil.
	tool      sdk.Tool
	reward    sdk.Reward
	model     sdk.Model
	validator sdk.ConfigValidator // nil unless the plugin advertises it

	killOnce sync.Once
}

// displayName is how errors name a plugin: by its block label and plugin
// name, or by the plugin name alone when it has no block.
func displayName(label, plugin string) string {
	if label == "" {
		return fmt.Sprintf("plugin %q", plugin)
	}
	return fmt.Sprintf("plugin %q (%s)", label, plugin)
}

// isPath reports whether plugin names an executable rather than a built-in.
func isPath(plugin string) bool {
	return strings.ContainsRune(plugin, os.PathSeparator) || strings.ContainsRune(plugin, '/')
}

// command builds the plugin's command line.
func (h *Host) command(ctx context.Context, name, plugin string) (*exec.Cmd, error) {
	if isPath(plugin) {
		fi, err := os.Stat(plugin)
		if err != nil {
			return nil, fmt.Errorf("pluginhost: %s: executable: %w", name, err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("pluginhost: %s: %s is not an executable file", name, plugin)
		}
		return exec.CommandContext(ctx, plugin), nil
	}
	exe := h.opts.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("pluginhost: %s: find the lathe binary to serve built-ins: %w", name, err)
		}
	}
	return exec.CommandContext(ctx, exe, "plugin", "serve", plugin), nil
}

// Start launches plugin as kind. plugin is a built-in name ("coedit") or a
// path to an executable (it contains a path separator); label is the HCL
// block label ("editor") used in errors, or "" outside an experiment.
func (h *Host) Start(ctx context.Context, kind sdk.Kind, label, plugin string) (*Instance, error) {
	switch kind {
	case sdk.KindTool, sdk.KindReward, sdk.KindModel:
	default:
		return nil, fmt.Errorf("pluginhost: unknown plugin kind %q", kind)
	}
	if plugin == "" {
		return nil, fmt.Errorf("pluginhost: %s block %q names no plugin", kind, label)
	}
	name := displayName(label, plugin)
	// abort kills the process group if the caller gives up during the
	// handshake; it is never cancelled once the plugin is up, because the
	// plugin outlives Start's ctx.
	abortCtx, abort := context.WithCancel(context.Background())
	cmd, err := h.command(abortCtx, name, plugin)
	if err != nil {
		abort()
		return nil, err
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.SysProcAttr = procAttr()

	logName := label
	if logName == "" {
		logName = plugin
	}
	logs := newLogTail(h.opts.Logger.Named(logName))
	inst := &Instance{host: h, kind: kind, label: label, plugin: plugin, name: name, logs: logs, abort: abort}
	inst.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  pluginclient.Handshake,
		Plugins:          pluginclient.PluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		StartTimeout:     h.opts.StartTimeout,
		// The plugin's output reaches the logger through logTail only;
		// go-plugin's own logger is off so lines are not filed twice.
		Logger:          hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
		Stderr:          &lineWriter{tail: logs},
		SyncStderr:      &lineWriter{tail: logs},
		SyncStdout:      &lineWriter{tail: logs},
		GRPCDialOptions: pluginclient.DialOptions(),
	})

	// go-plugin's handshake takes no context; run it aside so that a
	// cancelled ctx returns at once, and reap the process when it is done.
	type started struct {
		rpc goplugin.ClientProtocol
		err error
	}
	done := make(chan started, 1)
	go func() {
		rpc, err := inst.client.Client()
		// Client has returned, so go-plugin is done starting cmd.
		if cmd.Process != nil {
			inst.pid = cmd.Process.Pid
		}
		done <- started{rpc, err}
	}()
	var res started
	select {
	case res = <-done:
	case <-ctx.Done():
		abort()
		go func() {
			<-done
			inst.kill(true)
		}()
		return nil, fmt.Errorf("pluginhost: %s: start: %w", name, ctx.Err())
	}
	rpc, err := res.rpc, res.err
	if err != nil {
		inst.kill(true)
		return nil, h.startError(inst, err)
	}
	raw, err := rpc.Dispense(string(kind))
	if err != nil {
		inst.kill(true)
		return nil, fmt.Errorf("pluginhost: %s: %w", name, err)
	}
	var caps func(context.Context) ([]string, error)
	var narrow func(caps []string)
	switch c := raw.(type) {
	case *pluginclient.ToolClient:
		c.SetErrorContext(name, inst.transportError)
		caps = c.Capabilities
		narrow = func(caps []string) { inst.tool, inst.validator = narrowTool(c, caps), validatorOf(c, caps) }
	case *pluginclient.RewardClient:
		c.SetErrorContext(name, inst.transportError)
		caps = c.Capabilities
		narrow = func(caps []string) { inst.reward, inst.validator = narrowReward(c, caps), validatorOf(c, caps) }
	case *pluginclient.ModelClient:
		c.SetErrorContext(name, inst.transportError)
		caps = c.Capabilities
		narrow = func(caps []string) { inst.model, inst.validator = narrowModel(c, caps), validatorOf(c, caps) }
	default:
		inst.kill(true)
		return nil, fmt.Errorf("pluginhost: %s: unexpected client %T", name, raw)
	}
	// The first call also checks that the plugin serves the kind asked for:
	// a reward plugin named in a tool block answers Unimplemented here.
	if inst.caps, err = caps(ctx); err != nil {
		inst.kill(true)
		if errors.Is(err, pluginclient.ErrNotImplemented) {
			return nil, fmt.Errorf("pluginhost: %s is not a %s plugin", name, kind)
		}
		return nil, fmt.Errorf("pluginhost: %w", err)
	}

	narrow(inst.caps)

	h.mu.Lock()
	h.instances[inst] = struct{}{}
	h.mu.Unlock()
	return inst, nil
}

// startError explains a failed start: a handshake timeout, a process that
// is not a Lathe plugin, or one that died while starting.
func (h *Host) startError(inst *Instance, err error) error {
	msg := err.Error()
	var what string
	switch {
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		what = fmt.Sprintf("did not complete the plugin handshake within %s", h.opts.StartTimeout)
	case strings.Contains(msg, "plugin exited before we could connect"),
		strings.Contains(msg, "Failed to read any lines from plugin's stdout"):
		what = "exited before completing the handshake"
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		first := strings.TrimSpace(strings.TrimPrefix(firstLine(msg), "Unrecognized remote plugin message:"))
		what = fmt.Sprintf("is not a Lathe plugin: its first line on stdout was %q, not the plugin handshake "+
			"(a plugin's main must be one sdk/serve call, and nothing may print to stdout before it)", first)
	case strings.Contains(strings.ToLower(msg), "incompatible api version"):
		what = fmt.Sprintf("speaks another protocol version (host: %d; rebuild the plugin against this Lathe SDK): %s",
			sdk.ProtocolVersion, firstLine(msg))
	default:
		what = "failed to start: " + firstLine(msg)
	}
	return fmt.Errorf("pluginhost: %s %s%s", inst.name, what, formatTail(inst.logs.tail()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// formatTail renders a plugin's last output lines under an error.
func formatTail(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nlast plugin output:")
	for _, l := range lines {
		b.WriteString("\n  | ")
		b.WriteString(l)
	}
	return b.String()
}

// CrashError reports a plugin process that died during a call.
type CrashError struct {
	Plugin string   // `plugin "editor" (coedit)`
	Method string   // the call in flight, e.g. "Step"
	Cause  string   // the panic or fatal-error line, when the plugin printed one
	Tail   []string // the plugin's last output lines
	Err    error    // the transport error the call ended with
}

func (e *CrashError) Error() string {
	cause := e.Cause
	if cause == "" {
		cause = "process exited during " + e.Method
	} else {
		cause += " (during " + e.Method + ")"
	}
	return fmt.Sprintf("%s crashed: %s%s", e.Plugin, cause, formatTail(e.Tail))
}

func (e *CrashError) Unwrap() error { return e.Err }

// transportError is the clients' hook for a failed call that is neither the
// plugin's own error nor the caller's cancellation. The process usually
// died; wait briefly for it to be reaped so that its last words, which
// arrive through the stderr pipe, are in the tail.
func (i *Instance) transportError(method string, err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.Internal, codes.Canceled, codes.Unknown:
	default:
		// E.g. ResourceExhausted for an oversized message: the plugin is
		// fine, the call was refused.
		return fmt.Errorf("%s: %s: %w", i.name, method, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !i.client.Exited() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if i.client.Exited() {
		return &CrashError{Plugin: i.name, Method: method, Cause: i.logs.cause(), Tail: i.logs.tail(), Err: err}
	}
	return fmt.Errorf("%s: %s: %w%s", i.name, method, err, formatTail(i.logs.tail()))
}

// Name is how errors name the plugin, e.g. `plugin "editor" (coedit)`.
func (i *Instance) Name() string { return i.name }

// Kind is the kind the plugin was started as.
func (i *Instance) Kind() sdk.Kind { return i.kind }

// Pid is the plugin process's id (also its process group id).
func (i *Instance) Pid() int { return i.pid }

// Tool returns the plugin as a tool, or nil if it was started as another
// kind. The value implements sdk.ToolWithBatch and sdk.ToolWithDemonstrate
// exactly when the plugin does.
func (i *Instance) Tool() sdk.Tool { return i.tool }

// Reward returns the plugin as a reward, or nil if it was started as
// another kind. The value implements sdk.RewardWithBatch exactly when the
// plugin does.
func (i *Instance) Reward() sdk.Reward { return i.reward }

// Model returns the plugin as a model, or nil if it was started as another
// kind. The value implements sdk.ModelWithTraining and
// sdk.ModelWithCheckpoints exactly when the plugin does.
func (i *Instance) Model() sdk.Model { return i.model }

// Plugin returns the plugin as whichever kind it was started as.
func (i *Instance) Plugin() sdk.Plugin {
	switch {
	case i.tool != nil:
		return i.tool
	case i.reward != nil:
		return i.reward
	case i.model != nil:
		return i.model
	}
	return nil
}

// ConfigValidator returns the plugin's check of option values, and false
// when it has none.
func (i *Instance) ConfigValidator() (sdk.ConfigValidator, bool) {
	return i.validator, i.validator != nil
}

// Capabilities lists the optional interfaces the plugin implements, e.g.
// "ToolWithDemonstrate".
func (i *Instance) Capabilities() []string { return append([]string(nil), i.caps...) }

// Has reports whether the plugin implements the named optional interface.
func (i *Instance) Has(capability string) bool {
	for _, c := range i.caps {
		if c == capability {
			return true
		}
	}
	return false
}

// Kill stops the plugin: a graceful shutdown (go-plugin closes the
// connection and waits up to 2s), then SIGKILL to the whole process group so
// that nothing it forked survives. Safe to call more than once.
func (i *Instance) Kill() {
	i.kill(false)
	i.host.mu.Lock()
	delete(i.host.instances, i)
	i.host.mu.Unlock()
}

// gracePeriod bounds go-plugin's graceful shutdown before the group is
// killed. go-plugin waits 2s for the process itself, and then for its
// stdout/stderr pipes to close, which never happens while a grandchild
// holds them: only killing the group ends that wait.
const gracePeriod = 2500 * time.Millisecond

// kill stops the process group; now skips the graceful shutdown (for a
// plugin that never finished starting).
func (i *Instance) kill(now bool) {
	i.killOnce.Do(func() {
		killGroup := func() {
			if i.pid > 0 {
				// ESRCH when the group is already empty, the usual case.
				_ = syscall.Kill(-i.pid, syscall.SIGKILL)
			}
		}
		if now {
			killGroup()
		}
		done := make(chan struct{})
		go func() {
			i.client.Kill()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(gracePeriod):
		}
		killGroup()
		<-done
		i.abort() // releases the context; the process has been waited for
	})
}

// Close kills every instance the host started.
func (h *Host) Close() {
	h.mu.Lock()
	insts := make([]*Instance, 0, len(h.instances))
	for i := range h.instances {
		insts = append(insts, i)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, i := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i.Kill()
		}()
	}
	wg.Wait()
}

// Schema starts plugin, asks for its configuration schema and kills it. The
// answer is cached per kind and plugin for the host's lifetime.
func (h *Host) Schema(ctx context.Context, kind sdk.Kind, plugin string) (sdk.Schema, error) {
	key := string(kind) + "\x00" + plugin
	h.mu.Lock()
	s, ok := h.schemas[key]
	h.mu.Unlock()
	if ok {
		return s, nil
	}
	inst, err := h.Start(ctx, kind, "", plugin)
	if err != nil {
		return sdk.Schema{}, err
	}
	defer inst.Kill()
	if s, err = inst.Plugin().Schema(ctx); err != nil {
		return sdk.Schema{}, fmt.Errorf("pluginhost: %w", err)
	}
	h.mu.Lock()
	h.schemas[key] = s
	h.mu.Unlock()
	return s, nil
}

// validatorOf is c's sdk.ConfigValidator when the plugin advertises one.
func validatorOf(c sdk.ConfigValidator, caps []string) sdk.ConfigValidator {
	if slices.Contains(caps, pluginclient.CapConfigValidator) {
		return c
	}
	return nil
}
