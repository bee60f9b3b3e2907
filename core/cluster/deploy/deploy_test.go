package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"gopkg.in/yaml.v3"
)

func TestKinds(t *testing.T) {
	if got := strings.Join(Kinds(), ","); got != "kubernetes,nomad,shell,slurm" {
		t.Fatalf("Kinds() = %s", got)
	}
}

func TestRender(t *testing.T) {
	p := Params{NATS: "nats://10.0.0.5:4222,nats://10.0.0.6:4222", Replicas: 3, Slots: 2, Image: "registry.example/lathe:v1", Binary: "/opt/lathe bin/lathe"}
	tests := []struct {
		kind  string
		check func(t *testing.T, out string)
		want  []string // substrings
	}{
		{"shell", shellSyntax, []string{"LATHE='/opt/lathe bin/lathe'", "NATS='nats://10.0.0.5:4222,nats://10.0.0.6:4222'", `-lt 3`, "--slots 2"}},
		{"slurm", shellSyntax, []string{"#SBATCH --array=0-2\n", "#SBATCH --cpus-per-task=2\n", "--slots 2"}},
		{"kubernetes", kubernetes, []string{"replicas: 3", `image: "registry.example/lathe:v1"`}},
		{"nomad", nomad, []string{"count = 3", `"--slots", "2"`, "cpu    = 2000"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			out, err := Render(tt.kind, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in\n%s", w, out)
				}
			}
			if strings.Contains(out, "[[") || strings.Contains(out, "<no value>") {
				t.Errorf("unfilled placeholder in\n%s", out)
			}
			if strings.Contains(strings.ToLower(out), "password=") || strings.Contains(out, "secret:") {
				t.Errorf("a credential is rendered into\n%s", out)
			}
			tt.check(t, out)
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name string
		kind string
		p    Params
		want string
	}{
		{"unknown kind", "docker-compose", Params{NATS: "nats://x:1", Replicas: 1, Slots: 1}, "no template"},
		{"no url", "shell", Params{Replicas: 1, Slots: 1}, "NATS URL"},
		{"no replicas", "shell", Params{NATS: "nats://x:1", Slots: 1}, "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Render(tt.kind, tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}

func shellSyntax(t *testing.T, out string) {
	f := filepath.Join(t.TempDir(), "s.sh")
	if err := os.WriteFile(f, []byte(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s\n%s", err, msg, out)
	}
}

func kubernetes(t *testing.T, out string) {
	var d struct {
		Kind string
		Spec struct {
			Replicas int
			Template struct {
				Spec struct {
					Containers []struct {
						Image string
						Args  []string
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, out)
	}
	if d.Kind != "Deployment" || d.Spec.Replicas != 3 || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("decoded %+v", d)
	}
	c := d.Spec.Template.Spec.Containers[0]
	want := "worker --nats nats://10.0.0.5:4222,nats://10.0.0.6:4222 --slots 2 --cache /cache"
	if got := strings.Join(c.Args, " "); got != want || c.Image != "registry.example/lathe:v1" {
		t.Errorf("container %s %q, want args %q", c.Image, got, want)
	}
}

func nomad(t *testing.T, out string) {
	f, diags := hclsyntax.ParseConfig([]byte(out), "job.nomad.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("not HCL: %v\n%s", diags, out)
	}
	content, _, diags := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "job", LabelNames: []string{"name"}}}})
	if diags.HasErrors() || len(content.Blocks) != 1 || content.Blocks[0].Labels[0] != "lathe-workers" {
		t.Fatalf("no job block: %v", diags)
	}
}
