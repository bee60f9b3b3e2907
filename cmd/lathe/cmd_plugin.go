package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/lathe-ml/lathe/core/scaffold"
	"github.com/lathe-ml/lathe/plugins/builtin"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/serve"
)

func init() {
	register(command{
		name:    "plugins",
		summary: "list the built-in plugins",
		run:     runPlugins,
	})
	register(command{
		name:    "plugin serve",
		summary: "serve a built-in plugin (run by the plugin host, not by hand)",
		run:     runPluginServe,
	})
	register(command{
		name:    "plugin new",
		summary: "write the skeleton of a new tool, reward or model plugin",
		run:     runPluginNew,
	})
}

func runPlugins(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plugins", "plugins\n\nLists the plugins built into this binary, with kind and protocol version.", stderr)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	t := tablewriter.NewTable(stdout,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	t.Header("name", "kind", "protocol", "description")
	for _, e := range builtin.All() {
		if err := t.Append(e.Name, string(e.Kind), strconv.Itoa(sdk.ProtocolVersion), e.Description); err != nil {
			return fmt.Errorf("table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}

func runPluginServe(_ context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("plugin serve", "plugin serve NAME\n\nServes the built-in plugin NAME over the plugin protocol. The plugin host\nruns this; started by hand it only explains that it is a plugin.", stderr)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errSilent
	}
	name := fs.Arg(0)
	e, ok := builtin.Lookup(name)
	if !ok {
		return fmt.Errorf("unknown built-in plugin %q (lathe plugins lists them)", name)
	}
	switch e.Kind {
	case sdk.KindTool:
		serve.Tool(e.NewTool())
	case sdk.KindReward:
		serve.Reward(e.NewReward())
	case sdk.KindModel:
		serve.Model(e.NewModel())
	default:
		return fmt.Errorf("built-in plugin %q has unknown kind %q", name, e.Kind)
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`plugin new NAME --kind reward`), which the flag
// package alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) (pos []string, help bool, err error) {
	for {
		if help, err := parseFlags(fs, args); help || err != nil {
			return nil, help, err
		}
		if fs.NArg() == 0 {
			return pos, false, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runPluginNew(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plugin new", "plugin new NAME --kind tool|reward|model [--dir DIR] [--lathe-src DIR] [--module PATH]\n\n"+
		"Writes a plugin skeleton: a Go module whose main is one serve call, a small\n"+
		"working implementation, a test using sdk/sdktest and a README.", stderr)
	kind := fs.String("kind", "", "plugin kind: tool, reward or model (required)")
	dir := fs.String("dir", "", "directory to create (default: ./NAME)")
	src := fs.String("lathe-src", "", "Lathe source tree for the go.mod replace (default: found above the current directory)")
	mod := fs.String("module", "", "module path of the new plugin (default: NAME)")
	pos, help, err := parseInterspersed(fs, args)
	if help || err != nil {
		return err
	}
	if len(pos) != 1 || *kind == "" {
		fs.Usage()
		return errSilent
	}
	name := pos[0]
	if *src == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if *src, err = scaffold.FindLatheSrc(wd); err != nil {
			return err
		}
	}
	if *dir == "" {
		*dir = name
	}
	files, err := scaffold.Write(scaffold.Options{
		Name: name, Kind: sdk.Kind(*kind), Dir: *dir, LatheSrc: *src, Module: *mod,
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, "wrote", f)
	}
	bin, _ := filepath.Abs(filepath.Join(*dir, name))
	fmt.Fprintf(stdout, "\nNext:\n  cd %s && go test ./... && go build -o %s .\n"+
		"then in an experiment file:\n  %s %q { plugin = %q }\n", *dir, name, *kind, name, bin)
	return nil
}
