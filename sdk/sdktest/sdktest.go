// Package sdktest tests plugins the way the host will use them, like
// net/http/httptest does for handlers. Tool, Reward and Model serve an sdk
// implementation over a real in-process gRPC connection and return the
// host-side client, so a test exercises the converters, the error mapping
// and the optional-interface checks without starting a process. Build and
// Launch compile a plugin's main package and run it as a real go-plugin
// process.
//
//	func TestScore(t *testing.T) {
//		r := sdktest.Reward(t, myReward{})
//		s, err := r.Score(ctx, sdk.Transition{...})
//		...
//	}
package sdktest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/internal/wire"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// serveInProcess serves impl as kind on an in-process gRPC connection and
// returns what the host side dispenses; both ends close at test cleanup.
func serveInProcess(t testing.TB, kind sdk.Kind, impl any) any {
	t.Helper()
	set, err := wire.ServerPluginSet(kind, impl)
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	client, server := plugin.TestPluginGRPCConn(t, false, set)
	t.Cleanup(func() {
		// Server first: closing the client first sends a Shutdown RPC whose
		// handler stops the server concurrently with this Stop (a data
		// race inside go-plugin).
		server.Stop()
		_ = client.Close()
	})
	raw, err := client.Dispense(string(kind))
	if err != nil {
		t.Fatalf("sdktest: dispense %s: %v", kind, err)
	}
	return raw
}

// Tool serves tool in-process and returns the host's client for it.
func Tool(t testing.TB, tool sdk.Tool) *pluginclient.ToolClient {
	t.Helper()
	return serveInProcess(t, sdk.KindTool, tool).(*pluginclient.ToolClient)
}

// Reward serves reward in-process and returns the host's client for it.
func Reward(t testing.TB, reward sdk.Reward) *pluginclient.RewardClient {
	t.Helper()
	return serveInProcess(t, sdk.KindReward, reward).(*pluginclient.RewardClient)
}

// Model serves model in-process and returns the host's client for it.
func Model(t testing.TB, model sdk.Model) *pluginclient.ModelClient {
	t.Helper()
	return serveInProcess(t, sdk.KindModel, model).(*pluginclient.ModelClient)
}

// Build compiles the main package pkg (an import path or a ./relative
// directory, resolved from the test's working directory) into a temporary
// directory and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(strings.TrimRight(pkg, "/")))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sdktest: go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Process is a plugin running as a real process.
type Process struct {
	client *plugin.Client
	raw    any
}

// Launch starts the plugin executable at path as kind, through the same
// handshake the host uses, and kills it at test cleanup. Its log lines go to
// t.Log.
func Launch(t testing.TB, kind sdk.Kind, path string) *Process {
	t.Helper()
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginclient.Handshake,
		Plugins:          pluginclient.PluginSet(),
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     20 * time.Second,
		GRPCDialOptions:  pluginclient.DialOptions(),
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: filepath.Base(path), Level: hclog.Info, Output: testLog{t},
		}),
	})
	t.Cleanup(c.Kill)
	rpc, err := c.Client()
	if err != nil {
		t.Fatalf("sdktest: start %s: %v", path, err)
	}
	raw, err := rpc.Dispense(string(kind))
	if err != nil {
		t.Fatalf("sdktest: dispense %s: %v", kind, err)
	}
	return &Process{client: c, raw: raw}
}

// Tool returns the process's tool client (nil if it is another kind).
func (p *Process) Tool() *pluginclient.ToolClient { c, _ := p.raw.(*pluginclient.ToolClient); return c }

// Reward returns the process's reward client (nil if it is another kind).
func (p *Process) Reward() *pluginclient.RewardClient {
	c, _ := p.raw.(*pluginclient.RewardClient)
	return c
}

// Model returns the process's model client (nil if it is another kind).
func (p *Process) Model() *pluginclient.ModelClient {
	c, _ := p.raw.(*pluginclient.ModelClient)
	return c
}

// Kill stops the process now (it is also killed at test cleanup).
func (p *Process) Kill() { p.client.Kill() }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool { return p.client.Exited() }

// testLog sends log lines to t.Log, so they show with -v or on failure.
type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
