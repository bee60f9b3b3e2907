// Package serve turns an sdk implementation into a plugin process. A plugin's
// main is one call:
//
//	func main() { serve.Reward(myReward{}) }
//
// The handshake (magic cookie, sdk.ProtocolVersion), the gRPC server and the
// logging set-up are this package's business. A process started by hand,
// without the host's cookie, prints a short explanation and exits.
package serve

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/internal/wire"
)

// stderr is the process's real standard error, captured before go-plugin
// replaces os.Stderr with a pipe it streams to the host; writing to the real
// one keeps log lines in order with a panic's stack trace.
var stderr = os.Stderr

// Logger returns a logger for plugin code. It writes JSON lines to stderr,
// which the host parses and files under the plugin's name in the run log.
// Never write to stdout before serving: stdout carries the handshake.
func Logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclog.Trace,
		Output:     stderr,
		JSONFormat: true,
	})
}

// Tool serves t until the host disconnects.
func Tool(t sdk.Tool) { run(sdk.KindTool, t) }

// Reward serves r until the host disconnects.
func Reward(r sdk.Reward) { run(sdk.KindReward, r) }

// Model serves m until the host disconnects.
func Model(m sdk.Model) { run(sdk.KindModel, m) }

// Kind serves impl as a plugin of the given kind; it is what `lathe plugin
// serve NAME` uses for built-ins. impl must implement the kind's interface.
func Kind(kind sdk.Kind, impl any) error {
	set, err := wire.ServerPluginSet(kind, impl)
	if err != nil {
		return err
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         set,
		GRPCServer:      wire.GRPCServer,
		Logger:          Logger().Named("go-plugin"),
	})
	return nil
}

func run(kind sdk.Kind, impl any) {
	// The typed entry points make a kind mismatch a compile error, so the
	// error from Kind cannot happen here.
	if err := Kind(kind, impl); err != nil {
		panic(err)
	}
}
