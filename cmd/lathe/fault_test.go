//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultExperiment is resumeExperiment with every stage long enough (a few
// seconds on two cores) for a fault to land inside it.
var faultExperiment = smallRun{name: "faults", seed: 13, tasks: 8, perTask: 40, rlSteps: 40, rlEvery: 4,
	evalSplit: "train", evalK: 16}.hcl()

// faultStage is where a fault lands: once the run's log shows started, and
// before the run records done.
type faultStage struct {
	name    string // stage or eval label
	started string // a run.log line that appears once the stage is under way
	done    string // a metrics.jsonl event that shows the stage had finished
}

var faultStages = []faultStage{
	{"demos", "progress: stage=demos", `"stage":"demos","event":"done"`},
	{"sft", "progress: stage=sft step=", `"stage":"sft","event":"done"`},
	{"rl", "progress: stage=rl step=", `"stage":"rl","event":"done"`},
	{"coe", "evaluating: eval=coe", `"stage":"coe","event":"done"`},
}

// fault is one way a run can be hurt. inject acts on the running `lathe
// run` (pid) whose run directory is out; want lists what its output must
// say (empty: nothing is owed, as after SIGKILL); disk is set when the
// fault fills the disk, which the user frees before resuming.
type fault struct {
	name   string
	inject func(t *testing.T, pid int, out string) error
	want   []string
	disk   bool
}

func signalFault(sig syscall.Signal) func(*testing.T, int, string) error {
	return func(t *testing.T, pid int, out string) error { return syscall.Kill(pid, sig) }
}

// killPlugin SIGKILLs the `lathe plugin serve NAME` child of pid.
func killPlugin(name string) func(*testing.T, int, string) error {
	return func(t *testing.T, pid int, out string) error {
		child, err := pluginChild(pid, name)
		if err != nil {
			return err
		}
		return syscall.Kill(child, syscall.SIGKILL)
	}
}

// pluginChild finds the process `lathe plugin serve name` whose parent is pid.
func pluginChild(pid int, name string) (int, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		child, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ")".
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if strings.HasSuffix(string(bytes.TrimRight(cmdline, "\x00")), "plugin\x00serve\x00"+name) {
			return child, nil
		}
	}
	return 0, fmt.Errorf("no plugin %s running under pid %d", name, pid)
}

// fillDisk fills the file system of out (a small tmpfs) to the last byte.
func fillDisk(t *testing.T, pid int, out string) error {
	f, err := os.Create(filepath.Join(filepath.Dir(out), "filler"))
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

// TestFaultsAtEveryStage hurts `lathe run` in each stage in every way a
// machine does (SIGKILL, SIGTERM, SIGINT, a plugin process killed, the
// disk full), requires the message each fault owes the user, and requires
// `lathe run --resume` to finish with the metrics and results of the
// uninterrupted run. It logs the fault x stage table.
func TestFaultsAtEveryStage(t *testing.T) {
	if os.Getenv("LATHE_LONG") == "" {
		t.Skip("about 40 small runs end to end (~5 min); set LATHE_LONG=1")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found")
	}
	bin := lathePath(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "faults.hcl")
	if err := os.WriteFile(file, []byte(faultExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole")
	if out, err := exec.Command(bin, "run", file, "--out", whole).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	want := stepRecords(t, whole)

	faults := []fault{
		{name: "SIGKILL", inject: signalFault(syscall.SIGKILL)},
		{name: "SIGTERM", inject: signalFault(syscall.SIGTERM), want: []string{"interrupted", "lathe run --resume"}},
		{name: "SIGINT", inject: signalFault(syscall.SIGINT), want: []string{"interrupted", "lathe run --resume"}},
		{name: "model plugin killed", inject: killPlugin("transformer"), want: []string{"transformer", "lathe run --resume"}},
		{name: "tool plugin killed", inject: killPlugin("coedit"), want: []string{"coedit", "lathe run --resume"}},
		{name: "disk full", inject: fillDisk, want: []string{"no space left on device", "lathe run --resume"}, disk: true},
	}
	table := map[[2]string]string{}
	for _, f := range faults {
		for _, st := range faultStages {
			if f.name == "model plugin killed" && st.name == "demos" {
				continue // synthesis runs no model
			}
			t.Run(f.name+"/"+st.name, func(t *testing.T) {
				base := t.TempDir()
				if f.disk {
					base = smallDisk(t)
				}
				out := filepath.Join(base, "run")
				seen, err := faultedRun(t, bin, file, out, st, f)
				if err != nil {
					table[[2]string{f.name, st.name}] = "not run: " + err.Error()
					t.Fatal(err)
				}
				if f.disk {
					os.Remove(filepath.Join(base, "filler"))
				}
				resumed, err := exec.Command(bin, "run", "--resume", out).CombinedOutput()
				if err != nil {
					table[[2]string{f.name, st.name}] = seen + "; resume failed"
					t.Fatalf("resume: %v\n%s", err, resumed)
				}
				same := diffRecords(t, stepRecords(t, out), want)
				table[[2]string{f.name, st.name}] = fmt.Sprintf("%s; resumed equal: %v", seen, same)
			})
		}
	}
	var b strings.Builder
	b.WriteString("\n| fault | stage | what the user saw; resumed run equals the uninterrupted one |\n|:--|:--|:--|\n")
	for _, f := range faults {
		for _, st := range faultStages {
			if cell, ok := table[[2]string{f.name, st.name}]; ok {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", f.name, st.name, cell)
			}
		}
	}
	t.Log(b.String())
}

// faultedRun starts `lathe run`, injects f once st is under way, and
// returns the last line of what the run printed (the user's view of the
// fault). It fails when the run finished st before the fault landed or
// when the output lacks what f owes the user.
func faultedRun(t *testing.T, bin, file, out string, st faultStage, f fault) (string, error) {
	var output bytes.Buffer
	cmd := exec.Command(bin, "run", file, "--out", out)
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left of the group
	deadline := time.Now().Add(3 * time.Minute)
	for {
		log, _ := os.ReadFile(filepath.Join(out, "run.log"))
		if bytes.Contains(log, []byte(st.started)) {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%q never appeared in run.log", st.started)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := f.inject(t, cmd.Process.Pid, out); err != nil {
		return "", fmt.Errorf("inject %s: %v", f.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		return "", fmt.Errorf("the run went on for 3 minutes after %s", f.name)
	}
	if err == nil {
		metrics, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		if bytes.Contains(metrics, []byte(st.done)) {
			return "", fmt.Errorf("%s came too late: %s had finished and the run succeeded", f.name, st.name)
		}
		return "", fmt.Errorf("the run succeeded in spite of %s:\n%s", f.name, output.String())
	}
	text := output.String()
	for _, w := range f.want {
		if !strings.Contains(text, w) {
			t.Errorf("after %s in %s the output does not say %q:\n%s", f.name, st.name, w, lastLines(text, 15))
		}
	}
	if len(f.want) == 0 {
		return "killed, no message", nil
	}
	return errorLine(text), nil
}

// errorLine is the "lathe run: ..." line of a failed run's output, or its
// last line.
func errorLine(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "lathe run: ") {
			return strings.ReplaceAll(lines[i], "|", "/")
		}
	}
	return strings.ReplaceAll(lines[len(lines)-1], "|", "/")
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// smallDisk mounts a 64 MiB tmpfs for one run directory, or skips the
// test where this process may not mount.
func smallDisk(t *testing.T) string {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("cannot mount a small tmpfs for the disk-full fault (%v): needs root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
