package experiment

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/mitchellh/go-wordwrap"

	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// WriteDiagnostics prints each diagnostic as
//
//	FILE:LINE:COL: error: SUMMARY
//	   18 | stage "x" { kind = "sf" }
//	      |                    ^^^^
//	  DETAIL
//
// files comes from File.Files or Experiment.Files; a diagnostic whose file
// is not among them (a -var value) is printed without the source line.
// width > 0 wraps the detail.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint) error {
	var b strings.Builder
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, sev, d.Summary)
			if f := files[d.Subject.Filename]; f != nil {
				writeSourceLine(&b, f.Bytes, *d.Subject)
			}
		} else {
			fmt.Fprintf(&b, "%s: %s\n", sev, d.Summary)
		}
		if d.Detail != "" {
			detail := d.Detail
			if width > 4 {
				detail = wordwrap.WrapString(detail, width-2)
			}
			for _, line := range strings.Split(detail, "\n") {
				fmt.Fprintf(&b, "  %s\n", line)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSourceLine prints the subject's first line and marks the subject
// (to the end of that line when it spans several) with carets.
func writeSourceLine(b *strings.Builder, src []byte, rng hcl.Range) {
	lines := strings.Split(string(src), "\n")
	if rng.Start.Line < 1 || rng.Start.Line > len(lines) {
		return
	}
	line := strings.TrimRight(lines[rng.Start.Line-1], "\r")
	runes := []rune(line)
	start := min(max(rng.Start.Column-1, 0), len(runes))
	end := len(runes)
	if rng.End.Line == rng.Start.Line {
		end = min(max(rng.End.Column-1, start+1), len(runes))
	}
	// Keep tabs in the marker line so the carets line up under the text.
	var pad strings.Builder
	for _, r := range runes[:start] {
		if r == '\t' {
			pad.WriteRune('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	n := max(end-start, 1)
	fmt.Fprintf(b, "%5d | %s\n", rng.Start.Line, line)
	fmt.Fprintf(b, "      | %s%s\n", pad.String(), strings.Repeat("^", n))
}

// Resolved is the JSON form of a resolved experiment written to a run
// directory's resolved.json: variables substituted, defaults filled,
// references as "kind.label", stages in run order.
type Resolved struct {
	Name        string                     `json:"name"`
	Seed        int64                      `json:"seed"`
	Description string                     `json:"description,omitempty"`
	File        string                     `json:"file"`
	Variables   map[string]json.RawMessage `json:"variables"`
	Datasets    map[string]map[string]any  `json:"datasets"`
	Tools       map[string]ResolvedPlugin  `json:"tools"`
	Rewards     map[string]ResolvedPlugin  `json:"rewards"`
	Models      map[string]ResolvedPlugin  `json:"models"`
	Stages      []ResolvedStage            `json:"stages"`
}

// ResolvedPlugin is a plugin block in resolved.json.
type ResolvedPlugin struct {
	Plugin string         `json:"plugin"`
	Config map[string]any `json:"config"`
}

// ResolvedStage is a stage or eval block in resolved.json.
type ResolvedStage struct {
	Block     string         `json:"block"`
	Label     string         `json:"label"`
	Kind      string         `json:"kind"`
	DependsOn []string       `json:"depends_on,omitempty"`
	Attrs     map[string]any `json:"attrs"`
}

// Resolved returns the experiment in its JSON form.
func (e *Experiment) Resolved() Resolved {
	r := Resolved{
		Name: e.Name, Seed: e.Seed, Description: e.Description, File: e.Filename,
		Variables: map[string]json.RawMessage{},
		Datasets:  map[string]map[string]any{},
		Tools:     map[string]ResolvedPlugin{},
		Rewards:   map[string]ResolvedPlugin{},
		Models:    map[string]ResolvedPlugin{},
		Stages:    []ResolvedStage{},
	}
	for name, v := range e.Variables {
		if b, err := ctyjson.Marshal(v, v.Type()); err == nil {
			r.Variables[name] = b
		}
	}
	for _, d := range e.Datasets {
		r.Datasets[d.Label] = d.Attrs.JSON()
	}
	for _, set := range []struct {
		list []*PluginBlock
		out  map[string]ResolvedPlugin
	}{{e.Tools, r.Tools}, {e.Rewards, r.Rewards}, {e.Models, r.Models}} {
		for _, p := range set.list {
			set.out[p.Label] = ResolvedPlugin{Plugin: p.Plugin, Config: p.Config}
		}
	}
	for _, s := range e.Stages {
		r.Stages = append(r.Stages, ResolvedStage{
			Block: s.Block, Label: s.Label, Kind: s.Kind, DependsOn: s.DependsOn, Attrs: s.Attrs.JSON(),
		})
	}
	return r
}
