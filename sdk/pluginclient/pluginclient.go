// Package pluginclient is the host side of the plugin protocol: the
// go-plugin definitions the host launches plugins with, and the gRPC clients
// that implement the sdk interfaces on top of a plugin connection. The core
// (core/pluginhost) uses it; plugin authors do not need it.
//
// A client implements its kind's core interface and every optional one
// (ToolClient is an sdk.ToolWithDemonstrate, ...); calling one the plugin
// lacks returns an error that matches ErrNotImplemented and reads
// `plugin "editor" (coedit) does not implement Demonstrate`. The values
// core/pluginhost hands out are narrowed to what Capabilities lists, so
// callers there ask with a type assertion.
package pluginclient

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/lathe-ml/lathe/sdk/internal/wire"
)

type (
	// ToolClient implements sdk.Tool, sdk.ToolWithBatch and
	// sdk.ToolWithDemonstrate over a plugin connection.
	ToolClient = wire.ToolClient
	// RewardClient implements sdk.Reward and sdk.RewardWithBatch.
	RewardClient = wire.RewardClient
	// ModelClient implements sdk.Model, sdk.ModelWithTraining and
	// sdk.ModelWithCheckpoints.
	ModelClient = wire.ModelClient
	// NotImplementedError is returned for a missing optional interface.
	NotImplementedError = wire.NotImplementedError
	// TransportErrorFunc turns a transport failure into the caller's error.
	TransportErrorFunc = wire.TransportErrorFunc
)

// ErrNotImplemented matches (errors.Is) a call to a missing optional interface.
var ErrNotImplemented = wire.ErrNotImplemented

// Capability names, one per optional sdk interface.
const (
	CapToolWithBatch        = wire.CapToolWithBatch
	CapToolWithDemonstrate  = wire.CapToolWithDemonstrate
	CapRewardWithBatch      = wire.CapRewardWithBatch
	CapModelWithTraining    = wire.CapModelWithTraining
	CapModelWithCheckpoints = wire.CapModelWithCheckpoints
	CapConfigValidator      = wire.CapConfigValidator
)

// Handshake is the handshake every Lathe plugin answers.
var Handshake = wire.Handshake

// PluginSet is the set of plugin kinds to pass to plugin.ClientConfig
// (gRPC only).
func PluginSet() plugin.PluginSet { return wire.PluginSet() }

// DialOptions are the gRPC options the host should dial plugins with (they
// raise the message size limits to match the plugin side).
func DialOptions() []grpc.DialOption { return wire.DialOptions() }

// NewToolClient, NewRewardClient and NewModelClient wrap an existing
// connection, e.g. one from an in-process test server.
func NewToolClient(c grpc.ClientConnInterface) *ToolClient { return wire.NewToolClient(c) }

// NewRewardClient wraps a connection to a reward plugin.
func NewRewardClient(c grpc.ClientConnInterface) *RewardClient { return wire.NewRewardClient(c) }

// NewModelClient wraps a connection to a model plugin.
func NewModelClient(c grpc.ClientConnInterface) *ModelClient { return wire.NewModelClient(c) }
