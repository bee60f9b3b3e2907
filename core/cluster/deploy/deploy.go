// Package deploy renders ways to run `lathe worker` on many machines: a
// plain shell script, a Kubernetes Deployment, a Nomad job and a Slurm
// array job. Placement is the user's: these are starting points to edit,
// printed by `lathe worker --template KIND`. Credentials are never
// rendered into them; each template reads them from its platform's
// secrets (a Kubernetes Secret, Nomad variables, the environment).
package deploy

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// Params fill a template.
type Params struct {
	// NATS is the server URL(s) the workers connect to.
	NATS string
	// Replicas is the number of workers; Slots the items each plays at once.
	Replicas, Slots int
	// Image is the container image holding the lathe binary (kubernetes,
	// nomad); Binary the lathe binary's path (shell, slurm, nomad's exec).
	Image  string
	Binary string
}

//go:embed templates/*.tmpl
var files embed.FS

// The templates use [[ ]] as delimiters: Nomad's own templates use {{ }}.
var templates = template.Must(template.New("").Delims("[[", "]]").Funcs(template.FuncMap{
	"quote": quote, "shquote": shquote, "last": func(n int) int { return n - 1 },
}).ParseFS(files, "templates/*.tmpl"))

// Kinds lists the templates: kubernetes, nomad, shell, slurm.
func Kinds() []string {
	var out []string
	for _, t := range templates.Templates() {
		if n, ok := strings.CutSuffix(t.Name(), ".tmpl"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Render fills the template kind.
func Render(kind string, p Params) (string, error) {
	t := templates.Lookup(kind + ".tmpl")
	if t == nil {
		return "", fmt.Errorf("deploy: no template %q (have %s)", kind, strings.Join(Kinds(), ", "))
	}
	if p.NATS == "" {
		return "", fmt.Errorf("deploy: a NATS URL is required")
	}
	if p.Replicas < 1 || p.Slots < 1 {
		return "", fmt.Errorf("deploy: replicas and slots must be at least 1, got %d and %d", p.Replicas, p.Slots)
	}
	if p.Image == "" {
		p.Image = "lathe:latest"
	}
	if p.Binary == "" {
		p.Binary = "lathe"
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return "", fmt.Errorf("deploy: %s: %w", kind, err)
	}
	return b.String(), nil
}

// quote writes s as a JSON string, which YAML and HCL read back as s
// (HCL would read "${" as an interpolation: it is written "$${").
func quote(s string) string {
	b, _ := json.Marshal(s)
	return strings.ReplaceAll(string(b), "${", "$${")
}

// shquote writes s in single quotes for the shell.
func shquote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
