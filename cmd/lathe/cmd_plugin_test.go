package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/pluginhost"
	"github.com/lathe-ml/lathe/core/scaffold"
	"github.com/lathe-ml/lathe/plugins/builtin"
	"github.com/lathe-ml/lathe/sdk"
)

func runLathe(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = mainWithExit(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPluginsCommand(t *testing.T) {
	code, out, errOut := runLathe(t, "plugins")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The header is kept lower case and the tests reward is listed with its
	// kind and the protocol version.
	for _, want := range []string{"name", "kind", "protocol", "description"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks header %q:\n%s", want, out)
		}
	}
	found := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.FieldsFunc(line, func(r rune) bool { return r == '│' || r == '|' })
		if len(f) >= 3 && strings.TrimSpace(f[0]) == "tests" {
			found = true
			if strings.TrimSpace(f[1]) != "reward" || strings.TrimSpace(f[2]) != "1" {
				t.Errorf("tests row = %q", line)
			}
		}
	}
	if !found {
		t.Errorf("no row for the tests reward:\n%s", out)
	}
}

func TestPluginNewErrors(t *testing.T) {
	src, err := scaffold.FindLatheSrc(".")
	if err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad name", []string{"Bad", "--kind", "tool"}, `plugin name "Bad"`},
		{"bad kind", []string{"ok", "--kind", "widget"}, `unknown plugin kind "widget"`},
		{"missing kind", []string{"ok"}, "Usage: lathe plugin new"},
		{"two names", []string{"a", "b", "--kind", "tool"}, "Usage: lathe plugin new"},
		{"non-empty dir", []string{"ok", "--kind", "tool", "--dir", full}, "already exists and is not empty"},
		{"not a lathe tree", []string{"ok", "--kind", "tool", "--lathe-src", t.TempDir()}, "lathe source tree"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"plugin", "new"}, c.args...)
			if !strings.Contains(strings.Join(c.args, " "), "--lathe-src") {
				args = append(args, "--lathe-src", src)
			}
			if !strings.Contains(strings.Join(c.args, " "), "--dir") {
				args = append(args, "--dir", filepath.Join(t.TempDir(), "p"))
			}
			code, _, errOut := runLathe(t, args...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want failure containing %q", code, errOut, c.want)
			}
		})
	}
}

// TestPluginNew generates each kind's skeleton, builds it, runs its own
// test, and launches the binary through the plugin host as an experiment
// would, then calls it.
func TestPluginNew(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three plugin modules; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	src, err := scaffold.FindLatheSrc(".")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	host := pluginhost.New(pluginhost.Options{})
	t.Cleanup(host.Close)
	cases := []struct {
		kind sdk.Kind
		call func(t *testing.T, inst *pluginhost.Instance)
	}{
		{sdk.KindReward, func(t *testing.T, inst *pluginhost.Instance) {
			s, err := inst.Reward().Score(ctx, sdk.Transition{
				Before: sdk.StepInfo{Passed: 1, Total: 4}, After: sdk.StepInfo{Passed: 3, Total: 4}})
			if err != nil || s.Reward != 0.25 { // scale = 0.5 from configure
				t.Errorf("score = %+v, %v; want 0.25", s, err)
			}
		}},
		{sdk.KindTool, func(t *testing.T, inst *pluginhost.Instance) {
			r, err := inst.Tool().Reset(ctx, sdk.ResetRequest{Task: sdk.Task{ID: "q", Text: "2+2?", Reference: "4"}})
			if err != nil {
				t.Fatal(err)
			}
			s, err := inst.Tool().Step(ctx, sdk.StepRequest{Session: r.Session, Action: " 4 "})
			if err != nil || !s.Observation.Info.Solved || !s.Observation.Done {
				t.Errorf("step = %+v, %v; want solved", s, err)
			}
		}},
		{sdk.KindModel, func(t *testing.T, inst *pluginhost.Instance) {
			g, err := inst.Model().Generate(ctx, sdk.GenerateRequest{Contexts: []string{"x"}, Sampling: sdk.Sampling{Stop: []string{"\n"}}})
			if err != nil || len(g.Completions) != 1 || g.Completions[0].Text != "EXIT\n" {
				t.Errorf("generate = %+v, %v", g, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			name := "my" + string(c.kind)
			dir := filepath.Join(t.TempDir(), name)
			code, out, errOut := runLathe(t, "plugin", "new", name, "--kind", string(c.kind), "--dir", dir, "--lathe-src", src)
			if code != 0 {
				t.Fatalf("plugin new: exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "wrote "+filepath.Join(dir, "main.go")) {
				t.Errorf("output:\n%s", out)
			}
			goCmd := func(args ...string) {
				t.Helper()
				cmd := exec.Command("go", args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
				}
			}
			goCmd("test", "./...")
			goCmd("build", "-o", name, ".")

			inst, err := host.Start(ctx, c.kind, name, filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Kill()
			schema, err := host.Schema(ctx, c.kind, filepath.Join(dir, name))
			if err != nil || len(schema.Attributes) != 1 {
				t.Fatalf("schema = %+v, %v", schema, err)
			}
			cfg, _ := sdk.ConfigFrom(map[string]any{schema.Attributes[0].Name: map[sdk.Kind]any{
				sdk.KindReward: 0.5, sdk.KindTool: false, sdk.KindModel: "EXIT\nmore"}[c.kind]})
			var p sdk.Plugin = inst.Reward()
			if c.kind == sdk.KindTool {
				p = inst.Tool()
			} else if c.kind == sdk.KindModel {
				p = inst.Model()
			}
			if err := p.Configure(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			c.call(t, inst)
		})
	}
}

// The test binary doubles as the lathe binary for the plugin host: started
// as `<test binary> plugin serve NAME` it serves the built-in, exactly as
// lathe does. (In init, not TestMain, so other files' tests keep their own
// set-up; `plugin serve` is registered by cmd_plugin.go, whose init runs
// before this file's.)
func init() {
	if len(os.Args) >= 3 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		os.Exit(mainWithExit(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// Every built-in starts through `plugin serve`, answers the handshake as
// the kind it is registered as, and reports a schema.
func TestBuiltinsServe(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	host := pluginhost.New(pluginhost.Options{Executable: exe})
	t.Cleanup(host.Close)
	for _, e := range builtin.All() {
		t.Run(e.Name, func(t *testing.T) {
			inst, err := host.Start(ctx, e.Kind, "b", e.Name)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Kill()
			var p sdk.Plugin
			switch e.Kind {
			case sdk.KindTool:
				p = inst.Tool()
			case sdk.KindReward:
				p = inst.Reward()
			case sdk.KindModel:
				p = inst.Model()
			}
			if _, err := p.Schema(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	_, err = host.Start(ctx, sdk.KindTool, "editor", "no-such-plugin")
	if err == nil || !strings.Contains(err.Error(), `unknown built-in plugin "no-such-plugin"`) {
		t.Errorf("unknown built-in: %v", err)
	}
}
