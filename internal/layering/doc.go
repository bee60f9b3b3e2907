// Package layering holds the test that keeps Lathe's import graph one-way:
// cmd may import plugins, core and sdk; plugins may import core and sdk;
// core may import sdk; sdk imports none of them. Plugins are written
// against the SDK alone, and the core never names a concrete plugin, so a
// third-party plugin and a built-in one stand on the same footing.
package layering
