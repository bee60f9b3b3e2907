package sandbox

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHostile runs programs that attack the sandbox. Every one must end in
// a non-pass verdict, the pool must keep answering, and afterwards no
// process of a check may survive and no file outside the sandbox may have
// changed. Most programs define attack() to return True only when the
// attack worked, and the test is `assert attack() is True`, so a
// successful attack would show up as a pass.
func TestHostile(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	const secret = "lathe-secret-7c1e9d"
	t.Setenv("LATHE_SANDBOX_SECRET", secret)

	// Canary files outside /tmp (the sandbox has its own /tmp): a
	// root-owned file, a world-writable one in a world-writable directory,
	// and a root-only secret.
	cwd, _ := os.Getwd()
	canaryDir, err := os.MkdirTemp(cwd, ".canary-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(canaryDir) })
	os.Chmod(canaryDir, 0o777)
	canaries := map[string]os.FileMode{"canary": 0o644, "open-canary": 0o666, "secret": 0o600}
	for name, mode := range canaries {
		content := []byte("canary " + name + "\n")
		if name == "secret" {
			content = []byte(secret)
		}
		if err := os.WriteFile(filepath.Join(canaryDir, name), content, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(canaryDir, name), mode)
	}
	canary := filepath.Join(canaryDir, "canary")
	openCanary := filepath.Join(canaryDir, "open-canary")
	secretFile := filepath.Join(canaryDir, "secret")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var connections atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	// Attacks run with a 1 s limit; the health checks between them with the
	// pool's default, so a loaded CI machine does not turn them into timeouts.
	p, err := NewPool(context.Background(), Options{Workers: 2, Timeout: 10 * time.Second, MemoryBytes: 256 << 20,
		OutputBytes: 64 << 10, CacheSize: -1, NoNamespaces: os.Getenv("LATHE_SANDBOX_NO_NAMESPACES") == "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	iso := p.Isolation()
	t.Logf("isolation: %s", iso)

	attackTest := "assert attack() is True\n"
	wrong := "def add(a, b):\n    return a - b\n"
	addTests := "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"
	stealNonce := "import sys, os\ndef is_prime(n):\n    return False\nf = sys._getframe()\nwhile f is not None and not ('nonce' in f.f_locals and 'emit' in f.f_locals):\n    f = f.f_back\nif f is not None:\n    loc = f.f_locals\n    emit = loc['emit']\n    emit({'k': 'ran'})\n    i = 0\n    for kind, code, msg in loc['items']:\n        if kind == 'stmt':\n            continue\n        rec = {'k': 'test', 'i': i, 'ok': True}\n        if kind == 'assert' and code[0] == 'cmp':\n            rec['ops'] = code[2]\n            rec['vals'] = ['?' if c is None else 'i1' for c in code[1]]\n            rec['reprs'] = ['?' if c is None else 'True' for c in code[1]]\n        emit(rec)\n        i += 1\n    emit({'k': 'done', 'nonce': loc['nonce']})\n    os._exit(0)\n"
	primeTests := "assert is_prime(7)\nassert not is_prime(8)\n"
	tryAttack := func(body string) string {
		return "def attack():\n    try:\n" + indent(body, 8) + "\n    except BaseException:\n        return False\n"
	}
	cases := []struct {
		name  string
		prog  string
		tests string
		ref   string
		// needs names an isolation layer the case relies on; it is
		// skipped (logged) when the layer is missing. "procs": the host's
		// processes are out of reach (another uid or a PID namespace).
		needs string
	}{
		{"infinite loop", "while True:\n    pass\n", attackTest, "", ""},
		{"infinite loop in a test", "def attack():\n    while True:\n        pass\n", attackTest, "", ""},
		{"sleep past the timeout", "import time\ndef attack():\n    time.sleep(60)\n    return True\n", attackTest, "", ""},
		{"ignore SIGTERM and spin", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n", attackTest, "", ""},
		{"fork bomb", "import os\ndef attack():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n", attackTest, "", "uid"},
		{"memory bomb", "def attack():\n    x = []\n    while True:\n        x.append(' ' * (1 << 20))\n", attackTest, "", ""},
		{"one huge allocation", "def attack():\n    return len(bytearray(1 << 34)) > 0\n", attackTest, "", ""},
		{"huge stdout", "import sys\ndef attack():\n    while True:\n        sys.stdout.write('x' * 65536)\n", attackTest, "", ""},
		{"huge stderr", "import os\ndef attack():\n    while True:\n        os.write(2, b'e' * 65536)\n", attackTest, "", ""},
		{"deep recursion", "def attack(n=0):\n    return attack(n + 1)\n", attackTest, "", ""},
		{"deep recursion past the C stack", "import sys\nsys.setrecursionlimit(10**7)\ndef attack(n=0):\n    return attack(n + 1)\n", attackTest, "", ""},
		{"write a root-owned file outside", tryAttack(fmt.Sprintf("open(%q, 'w').write('pwned')\nreturn True", canary)), attackTest, "", "uid"},
		{"write a world-writable file outside", tryAttack(fmt.Sprintf("open(%q, 'a').write('pwned')\nreturn True", openCanary)), attackTest, "", "rofs"},
		{"create a file outside", tryAttack(fmt.Sprintf("open(%q, 'w').write('pwned')\nreturn True", filepath.Join(canaryDir, "new"))), attackTest, "", "rofs"},
		{"delete a file outside", tryAttack(fmt.Sprintf("import os\nos.unlink(%q)\nreturn True", openCanary)), attackTest, "", "rofs"},
		{"rename a file outside", tryAttack(fmt.Sprintf("import os\nos.rename(%q, %q)\nreturn True", canary, canary+".moved")), attackTest, "", "rofs"},
		{"chmod a file outside", tryAttack(fmt.Sprintf("import os\nos.chmod(%q, 0o777)\nreturn True", canary)), attackTest, "", "uid"},
		{"read a root-only secret", tryAttack(fmt.Sprintf("print(open(%q).read())\nreturn True", secretFile)), attackTest, "", "uid"},
		{"read host environment", "import os, glob\nprint([k for k in os.environ if 'SECRET' in k])\nfor f in glob.glob('/proc/*/environ'):\n    try:\n        print([v for v in open(f, 'rb').read().split(b'\\0') if b'SECRET' in v])\n    except OSError:\n        pass\ndef attack():\n    return 'LATHE_SANDBOX_SECRET' in os.environ\n", attackTest, "", "procs"},
		{"connect to a host listener", tryAttack(fmt.Sprintf("import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=0.5)\nreturn True", port)), attackTest, "", "net"},
		{"kill the parent", tryAttack("import os, signal, time\nppid = os.getppid()\nos.kill(ppid, signal.SIGKILL)\ntime.sleep(0.2)\ntry:\n    os.kill(ppid, 0)\n    return False\nexcept ProcessLookupError:\n    return True"), attackTest, "", ""},
		{"remount / read-write", tryAttack(fmt.Sprintf("import ctypes, os\nlibc = ctypes.CDLL(None)\nlibc.mount(None, b'/', None, 32 | 4096, None)\nopen(%q, 'a').write('pwned')\nreturn True", openCanary)), attackTest, "", "rofs"},
		{"setuid binary", tryAttack("import subprocess\nout = subprocess.run(['/bin/su', '-c', 'id -u', 'root'], capture_output=True, input=b'', timeout=0.5).stdout\nreturn out.strip() == b'0'"), attackTest, "", ""},
		{"kill init and every process", tryAttack("import os, signal\nos.kill(1, signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\nreturn True"), attackTest, "", "uid"},
		{"kill the process group", "import os, signal\nos.killpg(0, signal.SIGKILL)\n", attackTest, "", ""},
		{"os._exit(0) mid-test", "import os\ndef attack():\n    os._exit(0)\n", attackTest, "", ""},
		{"sys.exit(0) before the tests", "import sys\nsys.exit(0)\n", attackTest, "", ""},
		{"sys.exit(0) mid-test", "import sys\ndef attack():\n    sys.exit(0)\n", attackTest, "", ""},
		{"close stdout and stdin", "import os, sys\nsys.stdout.close()\nfor fd in range(0, 20):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\n" + wrong, addTests, "", ""},
		{"ctypes setuid(0)", tryAttack("import ctypes\nlibc = ctypes.CDLL(None)\nreturn libc.setuid(0) == 0 and libc.getuid() == 0"), attackTest, "", "uid"},
		{"thread outliving the check", "import threading, time\ndef spin():\n    while True:\n        time.sleep(0.01)\nthreading.Thread(target=spin).start()\n" + wrong, addTests, "", ""},
		{"daemon child outliving the check", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(120)\n    os._exit(0)\n" + wrong, addTests, "", ""},
		{"leave a file in /tmp for the next check", tryAttack("import os\nif os.path.exists('/tmp/poison'):\n    return True\nopen('/tmp/poison', 'w').write('x')\nreturn False"), attackTest, "", "tmp"},
		{"patch builtins", "import builtins\nbuiltins.AssertionError = type('E', (Exception,), {})\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int\nbuiltins.repr = lambda *a: '3'\nbuiltins.bool = lambda *a: True\n" + wrong, addTests, "", ""},
		{"patch the harness and json", "import sys, json, os\nm = sys.modules['__main__']\nfor k in list(vars(m)):\n    if callable(getattr(m, k)) and not k.startswith('__'):\n        setattr(m, k, lambda *a, **k: None)\njson.dumps = lambda *a, **k: '{\"k\":\"test\",\"i\":0,\"ok\":true}'\nos.write = lambda fd, b: len(b)\n" + wrong, addTests, "", ""},
		{"print a fake verdict", "print('All 2 tests passed.')\nprint('{\"k\":\"done\"}')\n" + wrong, addTests, "", ""},
		{"write fake records to the result channel", "import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, b'{\"k\":\"test\",\"i\":0,\"ok\":true}\\n{\"k\":\"test\",\"i\":1,\"ok\":true}\\n{\"k\":\"done\",\"nonce\":\"00\"}\\n')\n    except OSError:\n        pass\n" + wrong, addTests, "", ""},
		{"fake records then exit", "import os\nos.write(3, b'{\"k\":\"test\",\"i\":0,\"ok\":true}\\n{\"k\":\"test\",\"i\":1,\"ok\":true}\\n')\nos._exit(0)\n", addTests, "", ""},
		{"__eq__ always true", "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\ndef add(a, b):\n    return A()\n", addTests, "", ""},
		{"__eq__ always true with a reference", "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\ndef add(a, b):\n    return A()\n", addTests, "def add(a, b):\n    return a + b\n", ""},
		{"read the expected value from memory, without a reference", "import gc, re, sys\ndef attack():\n    pat = re.compile('attack' + re.escape('() == ') + '([0-9]+)')\n    objs = []\n    f = sys._getframe()\n    while f is not None:\n        objs += [f.f_locals, f.f_globals]\n        f = f.f_back\n    for o in objs + gc.get_objects():\n        vals = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()\n        try:\n            for v in vals:\n                m = pat.search(v) if isinstance(v, str) else None\n                if m:\n                    return int(m.group(1))\n        except Exception:\n            pass\n    return 0\n", "assert attack() == 918273645\n", "", ""},
		{"read the expected value from memory, with a reference", "import gc, re, sys\ndef attack():\n    pat = re.compile('attack' + re.escape('() == ') + '([0-9]+)')\n    objs = []\n    f = sys._getframe()\n    while f is not None:\n        objs += [f.f_locals, f.f_globals]\n        f = f.f_back\n    for o in objs + gc.get_objects():\n        vals = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()\n        try:\n            for v in vals:\n                m = pat.search(v) if isinstance(v, str) else None\n                if m:\n                    return int(m.group(1))\n        except Exception:\n            pass\n    return 0\n", "assert attack() == 918273645\n", "def attack():\n    return 918273645\n", ""},
		{"rewrite the harness's closure cells", "import gc\nclass Yes:\n    def __eq__(self, o):\n        return True\nfor f in gc.get_objects():\n    if type(f).__name__ == 'function' and f.__closure__:\n        for name, cell in zip(f.__code__.co_freevars, f.__closure__):\n            try:\n                if name in ('plain', 'canon'):\n                    cell.cell_contents = (lambda v, *a: v) if name == 'plain' else (lambda v: 'i3')\n                elif name == 'compare':\n                    cell.cell_contents = lambda a, op, b: True\n            except Exception:\n                pass\ndef add(a, b):\n    return Yes()\n", addTests, "", ""},
		// The harness's frame is one f_back away from the program: its
		// nonce and emit forge a complete run. What saves the verdict is
		// that the child cannot tell which truth value a test wants.
		{"steal the nonce from the harness's frame and forge every record", stealNonce, primeTests, "", ""},
		{"steal the nonce and forge every record, with a reference", stealNonce, primeTests, "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n", ""},
		{"__bool__ always true", "class A:\n    def __bool__(self):\n        return True\ndef attack():\n    return A()\n", "assert attack()\n", "", ""},
		{"int subclass with forged __eq__", "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\ndef add(a, b):\n    return I(0)\n", addTests, "", ""},
		{"list subclass with forged __eq__ inside a tuple", "class L(list):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return (L(),)\n", "assert add(1, 2) == ([3],)\n", "", ""},
		{"huge exception message", "def add(a, b):\n    raise ValueError('m' * 10**6)\n", addTests, "", ""},
		{"raise KeyboardInterrupt and SystemExit in a test", "def add(a, b):\n    raise KeyboardInterrupt\n", addTests, "", ""},
		{"write to /dev/shm", tryAttack("open('/dev/shm/lathe-poison', 'w').write('x')\nreturn True"), attackTest, "", "tmp"},
	}
	var ran int
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.needs == "uid" && !iso.UIDDrop,
				tc.needs == "rofs" && !iso.ReadOnlyRoot,
				tc.needs == "net" && !iso.NetNamespace,
				tc.needs == "tmp" && !iso.PrivateTmp,
				tc.needs == "procs" && !iso.UIDDrop && !iso.PIDNamespace:
				t.Skipf("isolation layer %q not available: %s", tc.needs, iso)
			}
			ran++
			runs := 1
			if tc.needs == "tmp" {
				runs = 4 // a later check, on either worker, must not see the first's files
			}
			for range runs {
				start := time.Now()
				v, err := p.Run(context.Background(), Check{Program: tc.prog, Tests: tc.tests, Reference: tc.ref, Timeout: time.Second})
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				if v.Status == StatusPass || v.Passed == v.Total && v.Total > 0 {
					t.Errorf("hostile program passed: %+v", v)
				}
				if strings.Contains(v.Feedback, secret) {
					t.Errorf("secret leaked into feedback:\n%s", v.Feedback)
				}
				if d := time.Since(start); d > 15*time.Second {
					t.Errorf("check took %v", d)
				}
				t.Logf("%s %s %d/%d in %v: %s", v.Status, v.ErrorClass, v.Passed, v.Total, time.Since(start).Round(time.Millisecond),
					firstLine(v.Feedback))
			}
			// The pool is still healthy.
			v, err := p.Run(context.Background(), Check{Program: "def add(a, b):\n    return a + b\n", Tests: addTests + "assert " + strconv.Quote(tc.name) + "\n"})
			if err != nil || v.Status != StatusPass {
				t.Fatalf("pool unhealthy after the attack: %+v, %v", v, err)
			}
		})
	}
	if f := flag.Lookup("test.run"); ran < 25 && os.Geteuid() == 0 && (f == nil || f.Value.String() == "") {
		t.Errorf("only %d hostile cases ran", ran)
	}

	// One more check on each worker so the last attack's leftovers have
	// been cleaned up, then look for survivors.
	if _, err := p.RunBatch(context.Background(), []Check{{Program: "x=1", Tests: "assert x == 1"}, {Program: "x=2", Tests: "assert x == 2"}}); err != nil {
		t.Fatal(err)
	}
	workers := map[int]bool{}
	p.mu.Lock()
	for w := range p.workers {
		workers[w.cmd.Process.Pid] = true
	}
	p.mu.Unlock()
	if strays := strayProcesses(p, workers); len(strays) > 0 {
		t.Errorf("stray processes after the suite: %v", strays)
	}
	for name, mode := range canaries {
		path := filepath.Join(canaryDir, name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("canary %s: %v", name, err)
			continue
		}
		want := []byte("canary " + name + "\n")
		if name == "secret" {
			want = []byte(secret)
		}
		got, _ := os.ReadFile(path)
		if fi.Mode().Perm() != mode || !bytes.Equal(got, want) {
			t.Errorf("canary %s changed: mode %v, content %q", name, fi.Mode().Perm(), got)
		}
	}
	if entries, _ := os.ReadDir(canaryDir); len(entries) != len(canaries) {
		t.Errorf("canary directory has %d entries, want %d", len(entries), len(canaries))
	}
	if _, err := os.Stat("/dev/shm/lathe-poison"); err == nil {
		t.Errorf("a check wrote to the host's /dev/shm")
	}
	if n := connections.Load(); n > 0 {
		t.Errorf("the host listener received %d connections", n)
	}
	st := p.Stats()
	t.Logf("stats: %+v", st)
	p.Close()
	if strays := strayProcesses(p, workers); len(strays) > 0 {
		t.Errorf("stray processes after Close: %v", strays)
	}
}

// strayProcesses lists what survives of the pool's checks: descendants of
// its workers other than each worker's one pre-forked child (still with the
// pool's own uid),
// and workers that outlived Close. Other pools on the machine may use the
// same check uids, so processes are attributed by ancestry, not uid alone.
func strayProcesses(p *Pool, workers map[int]bool) []string {
	var strays []string
	perWorker := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil || strings.HasPrefix(statusText(status, "State:"), "Z") && workers[statusField(status, "PPid:")] {
			continue
		}
		if workers[pid] {
			if p.closed {
				strays = append(strays, fmt.Sprintf("worker %d outlived Close", pid))
			}
			continue
		}
		uid := statusField(status, "Uid:")
		for anc, n := statusField(status, "PPid:"), 0; anc > 1 && n < 64; n++ {
			if workers[anc] {
				perWorker[anc]++
				if uid != os.Geteuid() || perWorker[anc] > 1 {
					cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
					strays = append(strays, fmt.Sprintf("pid %d (uid %d, %s) under worker %d: %.60q", pid, uid,
						statusText(status, "State:"), anc, cmd))
				}
				break
			}
			s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", anc))
			if err != nil {
				break
			}
			anc = statusField(s, "PPid:")
		}
	}
	return strays
}

func statusField(status []byte, field string) int {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return -1
}

func statusText(status []byte, field string) string {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
