package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// ProtocolVersion is the version of the plugin protocol. The host refuses a
// plugin that speaks another version. Bump it on any incompatible change of
// the interfaces below or of the wire protocol.
const ProtocolVersion = 1

// Kind names what a plugin is.
type Kind string

// The plugin kinds.
const (
	KindTool   Kind = "tool"
	KindReward Kind = "reward"
	KindModel  Kind = "model"
)

// Plugin is what every kind has in common: it reports the schema of its
// configuration block and accepts the decoded block.
type Plugin interface {
	// Schema describes the attributes the plugin accepts in its HCL block.
	// The host decodes the user's block against it before any stage runs.
	Schema(ctx context.Context) (Schema, error)
	// Configure receives the decoded block, defaults filled in. It is called
	// once, before any other method but Schema.
	Configure(ctx context.Context, cfg Config) error
}

// Schema describes a plugin's configuration block.
type Schema struct {
	Description string
	Attributes  []Attribute
}

// Attribute is one configuration option.
type Attribute struct {
	Name string
	// Type is one of "string", "number", "bool", "list(string)",
	// "list(number)", "map(string)", "map(number)".
	Type        string
	Description string
	Required    bool
	// Default is the JSON-compatible value used when the block omits the
	// attribute (string, float64, bool, []any or map[string]any); nil means
	// no default (the attribute is then null unless Required).
	Default any
}

// Config is a decoded configuration block: a JSON object whose keys are the
// schema's attribute names.
type Config json.RawMessage

// Decode unmarshals the configuration into v, usually a struct with json
// tags matching the schema's attribute names.
func (c Config) Decode(v any) error {
	if len(c) == 0 {
		return nil
	}
	if err := json.Unmarshal(c, v); err != nil {
		return fmt.Errorf("sdk: decode config: %w", err)
	}
	return nil
}

// ConfigFrom encodes v (usually a map[string]any) as a Config.
func ConfigFrom(v any) (Config, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sdk: encode config: %w", err)
	}
	return Config(b), nil
}

// ConfigValidator is an optional interface of a plugin of any kind: it
// checks the values of a decoded configuration block (defaults filled in)
// without configuring the plugin, so `lathe validate` reports a bad value
// at its attribute's line and column before any stage runs. A plugin that
// implements it usually calls the same check from Configure.
type ConfigValidator interface {
	// ValidateConfig returns one ConfigError per invalid value, none when
	// the block is valid; the error result is for a failure of the check
	// itself.
	ValidateConfig(ctx context.Context, cfg Config) ([]ConfigError, error)
}

// ConfigError is one invalid value in a configuration block.
type ConfigError struct {
	// Attribute names the schema attribute at fault; "" means the block
	// as a whole (two attributes that do not agree, say).
	Attribute string
	// Message says what is wrong and what would be right, e.g. "must
	// divide d_model (128), got 5".
	Message string
}

func (e ConfigError) Error() string {
	if e.Attribute == "" {
		return e.Message
	}
	return e.Attribute + " " + e.Message
}

// ConfigErrors is the error Configure returns for invalid values: all of
// them at once, each naming its attribute.
type ConfigErrors []ConfigError

func (es ConfigErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Addf appends an error on attribute attr, its message formatted.
func (es *ConfigErrors) Addf(attr, format string, args ...any) {
	*es = append(*es, ConfigError{Attribute: attr, Message: fmt.Sprintf(format, args...)})
}

// Err returns es as an error, or nil when it is empty.
func (es ConfigErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
