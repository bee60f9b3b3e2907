package wire

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/lathe-ml/lathe/sdk"
	pb "github.com/lathe-ml/lathe/sdk/internal/proto"
)

// Handshake is shared by host and plugins. The cookie only guards against a
// user running a plugin binary by hand; it is not a security measure.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  sdk.ProtocolVersion,
	MagicCookieKey:   "LATHE_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "7c1d0a1e-lathe-plugin-v1",
}

// MaxMessageBytes bounds one gRPC message in either direction; model batches
// (many contexts, per-token log-probs) exceed gRPC's 4 MiB default.
const MaxMessageBytes = 256 << 20

// Capability names, one per optional sdk interface.
const (
	CapToolWithBatch        = "ToolWithBatch"
	CapToolWithDemonstrate  = "ToolWithDemonstrate"
	CapRewardWithBatch      = "RewardWithBatch"
	CapModelWithTraining    = "ModelWithTraining"
	CapModelWithCheckpoints = "ModelWithCheckpoints"
	CapConfigValidator      = "ConfigValidator"
)

// Capabilities lists the optional interfaces impl implements.
func Capabilities(impl any) []string {
	var out []string
	add := func(ok bool, name string) {
		if ok {
			out = append(out, name)
		}
	}
	_, ok := impl.(sdk.ToolWithBatch)
	add(ok, CapToolWithBatch)
	_, ok = impl.(sdk.ToolWithDemonstrate)
	add(ok, CapToolWithDemonstrate)
	_, ok = impl.(sdk.RewardWithBatch)
	add(ok, CapRewardWithBatch)
	_, ok = impl.(sdk.ModelWithTraining)
	add(ok, CapModelWithTraining)
	_, ok = impl.(sdk.ModelWithCheckpoints)
	add(ok, CapModelWithCheckpoints)
	_, ok = impl.(sdk.ConfigValidator)
	add(ok, CapConfigValidator)
	return out
}

// ToolPlugin is the go-plugin definition of a tool. Impl is set on the
// plugin side only; the host dispenses a *ToolClient.
type ToolPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Tool
}

// GRPCServer registers the tool service.
func (p *ToolPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterToolServer(s, &toolServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a client speaking to the plugin's tool service.
func (p *ToolPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewToolClient(c), nil
}

// RewardPlugin is the go-plugin definition of a reward.
type RewardPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Reward
}

// GRPCServer registers the reward service.
func (p *RewardPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterRewardServer(s, &rewardServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a client speaking to the plugin's reward service.
func (p *RewardPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewRewardClient(c), nil
}

// ModelPlugin is the go-plugin definition of a model.
type ModelPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Model
}

// GRPCServer registers the model service.
func (p *ModelPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterModelServer(s, &modelServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a client speaking to the plugin's model service.
func (p *ModelPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewModelClient(c), nil
}

// PluginSet is what the host offers go-plugin: every kind under its name,
// gRPC only (a net/rpc entry would let go-plugin pick net/rpc).
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		string(sdk.KindTool):   &ToolPlugin{},
		string(sdk.KindReward): &RewardPlugin{},
		string(sdk.KindModel):  &ModelPlugin{},
	}
}

// ServerPluginSet is what a plugin process serves: its one implementation
// under its kind's name.
func ServerPluginSet(kind sdk.Kind, impl any) (plugin.PluginSet, error) {
	switch kind {
	case sdk.KindTool:
		t, ok := impl.(sdk.Tool)
		if !ok {
			return nil, fmt.Errorf("wire: %T is not an sdk.Tool", impl)
		}
		return plugin.PluginSet{string(kind): &ToolPlugin{Impl: t}}, nil
	case sdk.KindReward:
		r, ok := impl.(sdk.Reward)
		if !ok {
			return nil, fmt.Errorf("wire: %T is not an sdk.Reward", impl)
		}
		return plugin.PluginSet{string(kind): &RewardPlugin{Impl: r}}, nil
	case sdk.KindModel:
		m, ok := impl.(sdk.Model)
		if !ok {
			return nil, fmt.Errorf("wire: %T is not an sdk.Model", impl)
		}
		return plugin.PluginSet{string(kind): &ModelPlugin{Impl: m}}, nil
	}
	return nil, fmt.Errorf("wire: unknown plugin kind %q", kind)
}

// GRPCServer builds the plugin's gRPC server with Lathe's message limits.
func GRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
	return grpc.NewServer(opts...)
}

// DialOptions are the host's gRPC options matching GRPCServer's limits.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}
}
