// Package sdk is everything a Lathe plugin author imports to write a tool, a
// reward or a model: the plugin interfaces, their request and response types,
// and the configuration schema a plugin reports to the host.
//
// The types here are plain Go. The gRPC protocol that carries them between
// the core and a plugin process lives in sdk/internal; plugin authors never
// see protobuf. A plugin's main is one call into package sdk/serve:
//
//	func main() { serve.Reward(myReward{}) }
//
// Each kind has a small core interface (its schema, its configuration and its
// one verb) and optional extensions named KindWithX (ToolWithDemonstrate,
// ModelWithTraining, ...) that the host discovers by type assertion on the
// plugin side and asks for through Capabilities on the host side.
package sdk
