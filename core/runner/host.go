package runner

import (
	"context"

	"github.com/lathe-ml/lathe/core/pluginhost"
	"github.com/lathe-ml/lathe/sdk"
)

// Instance is one running plugin. *pluginhost.Instance implements it.
//
// The values of Tool, Reward and Model implement the optional sdk
// interfaces of their kind exactly when the plugin does, so a type
// assertion is the capability check.
type Instance interface {
	Tool() sdk.Tool
	Reward() sdk.Reward
	Model() sdk.Model
	// ConfigValidator is the plugin's check of option values, if it has one.
	ConfigValidator() (sdk.ConfigValidator, bool)
	Capabilities() []string
	Kill()
}

// Host starts plugins and answers their schemas. Wrap a *pluginhost.Host
// with PluginHost; tests use fakes.
type Host interface {
	Schema(ctx context.Context, kind sdk.Kind, plugin string) (sdk.Schema, error)
	Start(ctx context.Context, kind sdk.Kind, label, plugin string) (Instance, error)
	Close()
}

// PluginHost adapts a *pluginhost.Host to Host.
func PluginHost(h *pluginhost.Host) Host { return pluginHost{h} }

type pluginHost struct{ h *pluginhost.Host }

func (p pluginHost) Schema(ctx context.Context, kind sdk.Kind, plugin string) (sdk.Schema, error) {
	return p.h.Schema(ctx, kind, plugin)
}

func (p pluginHost) Start(ctx context.Context, kind sdk.Kind, label, plugin string) (Instance, error) {
	inst, err := p.h.Start(ctx, kind, label, plugin)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return inst, nil
}

func (p pluginHost) Close() { p.h.Close() }
