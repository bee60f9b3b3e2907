# Lathe sandbox worker: a warm interpreter that forks one child per check.
#
# The Go host starts this file with `python -S -s -P -B -c SOURCE CONFIG`,
# optionally inside fresh PID/mount/network namespaces. Protocol on fd 3
# (jobs in) and fd 4 (replies out): frames of a 4-byte big-endian length and
# a UTF-8 JSON object. Nothing untrusted ever runs in this process: each check
# runs in a child forked ahead of time, which drops to an unprivileged uid,
# sets rlimits and only then sees the job.
#
# The child reports through a memfd "result channel" as JSON lines written by
# the harness below. The harness captures every builtin it relies on before
# any untrusted code runs, so patching builtins, modules or the harness's
# module globals does not change how tests are judged. Values are compared as
# plain copies (exact builtin types), so an object whose __eq__ is always
# true cannot pass an equality test.

import os
import sys
import gc
import json
import ast
import select
import signal
import resource
import builtins
import time
import ctypes
import marshal

CONFIG = json.loads(sys.argv[1])
JOB_IN, REPLY_OUT = 3, 4
UID = CONFIG["uid"]
MAX_RECORDS = 4 << 20

LAYERS = {}
NO_NEW_PRIVS = False  # set on the worker itself, so every child inherits it


def log(msg):
    os.write(2, ("lathe-sandbox worker %d: %s\n" % (CONFIG["index"], msg)).encode())


# ---- framing with the host ----

def read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_frame(fd):
    n = int.from_bytes(read_exact(fd, 4), "big")
    return json.loads(read_exact(fd, n))


def write_frame(fd, obj):
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8", "replace")
    data = len(data).to_bytes(4, "big") + data
    while data:
        n = os.write(fd, data)
        data = data[n:]


# ---- one-time isolation setup (namespaces are created by the host) ----

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
_libc = None


def mount(src, target, fstype, flags, data):
    def b(s):
        return None if s is None else s.encode()
    if _libc.mount(b(src), b(target), b(fstype), flags, b(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (target, os.strerror(e)))


def umount(target):
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "umount %s: %s" % (target, os.strerror(e)))


def fresh_tmp():
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
          "size=%dk,mode=1777,nr_inodes=4096" % CONFIG["tmp_kb"])


def setup_mounts():
    """Private mounts: a fresh tmpfs /tmp per check, an empty /dev/shm, the
    interpreter reachable for the unprivileged uid, the rest read-only."""
    libc()
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    fresh_tmp()
    LAYERS["private_tmp"] = True
    for d in ("/dev/shm", "/var/tmp", "/run"):
        if os.path.isdir(d):
            try:
                # Read-only: a check must not leave files for the next one
                # even where it runs as (namespace) root.
                mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=64k,mode=0755")
            except OSError as e:
                log("cannot hide %s: %s" % (d, e))
    if CONFIG["pidns"]:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        LAYERS["private_proc"] = True
    # The standard library may sit under a directory the unprivileged uid
    # cannot traverse (pyenv under /root, mode 0700). Re-expose just the
    # interpreter's prefix under the same path on a tmpfs that hides the rest.
    prefix = os.path.realpath(sys.base_prefix)
    parts = prefix.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        anc = "/" + "/".join(parts[:i])
        if os.stat(anc).st_mode & 0o001 == 0:
            stage = "/tmp/.stage"
            os.mkdir(stage)
            mount(prefix, stage, None, MS_BIND | MS_REC, None)
            mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
            os.makedirs(prefix, exist_ok=True)
            mount(stage, prefix, None, MS_BIND | MS_REC, None)
            umount(stage)
            os.rmdir(stage)
            LAYERS["reexposed"] = anc
            break
    try:
        mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
        LAYERS["readonly_root"] = True
    except OSError as e:
        log("cannot make / read-only: %s" % e)
    umount("/tmp")
    fresh_tmp()


PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 24, 28, 36, 38


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def set_subreaper():
    return libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def drop_caps():
    """Where no other uid exists (a user namespace maps only ours), the
    check stays uid 0 of the namespace: take away every capability, and keep
    execve from granting them back, so the read-only mounts and the files'
    modes hold."""
    c = libc()
    SECBIT_NOROOT, SECBIT_NOROOT_LOCKED = 1, 2
    SECBIT_NO_SETUID_FIXUP, SECBIT_NO_SETUID_FIXUP_LOCKED = 4, 8
    c.prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
            SECBIT_NO_SETUID_FIXUP_LOCKED, 0, 0, 0)
    for cap in range(64):
        if c.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (ctypes.c_uint32 * 6)()
    if c.capset(hdr, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def probe_uid_drop():
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(UID, UID, UID)
            os.setresuid(UID, UID, UID)
            os._exit(0 if os.getuid() == UID else 1)
        except BaseException:
            os._exit(1)
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st) == 0


def probe_rlimits():
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        return True
    except (OSError, ValueError):
        return False


# ---- the trusted harness, built before any untrusted code exists ----

def make_harness():
    # Every name the harness uses is bound here, once, as a closure cell:
    # later patches to builtins, to modules or to this module's globals do
    # not reach it.
    _type, _repr, _len, _str, _int, _float = type, repr, len, str, int, float
    _isinstance, _issubclass, _sorted, _bool = isinstance, issubclass, sorted, bool
    _compile, _exec, _eval, _list, _tuple = compile, exec, eval, list, tuple
    _dict, _set, _frozenset, _complex, _bytes = dict, set, frozenset, complex, bytes
    _write, _exit, _getattr, _enumerate, _hasattr = os.write, os._exit, getattr, enumerate, hasattr
    _BaseException, _Exception, _SyntaxError = BaseException, Exception, SyntaxError
    _RecursionError, _AssertionError, _ValueError = RecursionError, AssertionError, ValueError
    _zip, _abs, _any, _range = zip, abs, any, range
    _NameError, _AttributeError, _dir, _min = NameError, AttributeError, dir, min
    _builtin_names = _sorted(dir(builtins))
    # dir() of these runs no code of the program; another __dir__ might
    # loop or lie, and is not asked.
    _plain_dirs = (object.__dir__, type.__dir__, type(sys).__dir__)
    _NoneType = type(None)
    _stdout, _stderr = sys.stdout, sys.stderr
    _math_isinf = __import__("math").isinf
    _math_isnan = __import__("math").isnan
    import collections
    _dictlike = (collections.Counter, collections.OrderedDict, collections.defaultdict)
    _atoms = (int, bool, str, bytes, _NoneType, complex)
    _seqs = (list, tuple, set, frozenset, dict)
    esc = {i: "\\u%04x" % i for i in range(32)}
    esc.update({ord('"'): '\\"', ord("\\"): "\\\\", 0x2028: "\\u2028", 0x2029: "\\u2029"})
    _esc = esc
    _cmp_sym = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                ast.GtE: ">=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
    _cmp_neg = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<",
                "in": "not in", "not in": "in", "is": "is not", "is not": "is"}

    def jstr(s):
        return '"' + _str.translate(s, _esc) + '"'

    def enc(v):
        t = _type(v)
        if t is _str:
            return jstr(v)
        if t is _bool:
            return "true" if v else "false"
        if t is _int:
            return _int.__repr__(v)
        if v is None:
            return "null"
        if t is _list:
            return "[" + ",".join([enc(x) for x in v]) + "]"
        if t is _dict:
            return "{" + ",".join([jstr(k) + ":" + enc(x) for k, x in _dict.items(v)]) + "}"
        return jstr(_repr(v))

    def make_emit(fd):
        def emit(rec):
            data = _str.encode(enc(rec) + "\n", "utf-8", "replace")
            try:
                while data:
                    n = _write(fd, data)
                    data = data[n:]
            except _BaseException:
                pass
        return emit

    class NotPlain(_Exception):
        pass

    _SKIP = object()

    def plain(v, depth=0):
        """A copy of v made only of exact builtin types, built with the
        builtin types' own methods so no user code runs."""
        if depth > 200:
            raise NotPlain("value nested too deeply")
        t = _type(v)
        if t is _float or t in _atoms:
            return v
        if t is _list or t is _tuple:
            r = [plain(x, depth + 1) for x in _list.__iter__(v)] if t is _list else \
                [plain(x, depth + 1) for x in _tuple.__iter__(v)]
            return r if t is _list else _tuple(r)
        if t is _set or t is _frozenset:
            return t(plain(x, depth + 1) for x in t.__iter__(v))
        if t is _dict:
            return {plain(k, depth + 1): plain(x, depth + 1) for k, x in _dict.items(v)}
        for base in _dictlike:
            if t is base:
                return {plain(k, depth + 1): plain(x, depth + 1) for k, x in _dict.items(v)}
        # A subclass of a builtin container or atom that keeps the builtin
        # equality (namedtuples, str enums...) is judged as its base.
        for base in (_tuple, _list, _dict, _set, _frozenset, _str, _int, _float):
            if _issubclass(t, base) and t.__eq__ is base.__eq__ and t.__ne__ is base.__ne__:
                if base is _tuple:
                    return _tuple([plain(x, depth + 1) for x in _tuple.__iter__(v)])
                if base is _list:
                    return [plain(x, depth + 1) for x in _list.__iter__(v)]
                if base is _dict:
                    return {plain(k, depth + 1): plain(x, depth + 1) for k, x in _dict.items(v)}
                if base is _set or base is _frozenset:
                    return base(plain(x, depth + 1) for x in base.__iter__(v))
                if base is _str:
                    return _str.__str__(v)
                if base is _int:
                    return _int.__int__(v)
                return _float.__float__(v)
        raise NotPlain("the test checks a value of type %s; only plain values "
                       "(numbers, strings, bytes, None, lists, tuples, sets, dicts) "
                       "can be checked" % _repr(t.__name__ if _isinstance(t.__name__, _str) else "?"))

    def canon(v):
        """A string equal for two plain values exactly when Python's == holds
        (numbers by value, sets and dicts ignoring order)."""
        t = _type(v)
        if t is _bool or t is _int:
            return "i" + _int.__repr__(_int(v))
        if t is _float:
            if not _math_isinf(v) and not _math_isnan(v) and _float.is_integer(v):
                return "i" + _int.__repr__(_int(v))
            return "f" + _float.__repr__(v)
        if t is _str:
            return "s" + _str.__repr__(v)
        if v is None:
            return "N"
        if t is _list:
            return "L[" + ",".join([canon(x) for x in v]) + "]"
        if t is _tuple:
            return "T(" + ",".join([canon(x) for x in v]) + ")"
        if t is _set or t is _frozenset:
            return "S{" + ",".join(_sorted([canon(x) for x in v])) + "}"
        if t is _dict:
            return "D{" + ",".join(_sorted([canon(k) + ":" + canon(x) for k, x in _dict.items(v)])) + "}"
        return _type(v).__name__[:1] + _repr(v)

    def short(v):
        r = _repr(v)
        return r if _len(r) <= 200 else r[:200] + "..."

    def frames(tb):
        out = []
        n = 0
        while tb is not None and n < 200:
            co = tb.tb_frame.f_code
            if co.co_filename in ("<program>", "<setup>", "<tests>"):
                out.append({"f": co.co_filename, "l": tb.tb_lineno, "n": _str(co.co_name)})
            tb = tb.tb_next
            n += 1
        return out[-3:]

    # --- "Did you mean" ---
    # Python 3.10+ prints a suggestion after a NameError or AttributeError
    # when the missing name is close to one that exists ("name 'chukn' is
    # not defined. Did you mean: 'chunk'?"), but only when it prints the
    # traceback itself: str(e) and, before 3.12, the traceback module leave
    # it out. The harness reports str(e), so it adds the suggestion the way
    # the interpreter does, the same on every Python version: the closest
    # name by an edit distance where inserting, deleting or replacing a
    # character costs 2 and changing only its case 1, within about a third
    # of the two names' length; for a NameError the innermost frame's
    # locals first, then its globals, then the builtins; for an
    # AttributeError the attributes of the object.

    def edit_distance(a, b, limit):
        """The distance above, or limit+1 as soon as it must exceed limit."""
        if _abs(_len(a) - _len(b)) * 2 > limit:
            return limit + 1
        prev = [2 * j for j in _range(_len(b) + 1)]
        for i, ca in _enumerate(a, 1):
            cur = [2 * i]
            low = cur[0]
            for j, cb in _enumerate(b, 1):
                if ca == cb:
                    sub = prev[j - 1]
                elif _str.lower(ca) == _str.lower(cb):
                    sub = prev[j - 1] + 1
                else:
                    sub = prev[j - 1] + 2
                v = _min(sub, prev[j] + 2, cur[j - 1] + 2)
                cur.append(v)
                if v < low:
                    low = v
            if low > limit:
                return limit + 1
            prev = cur
        return prev[-1]

    def closest(name, names):
        if _len(name) > 40 or _len(names) > 750:
            return None
        best, best_d = None, 0
        for c in names:
            if _type(c) is not _str or c == name or _len(c) > 40:
                continue
            if c[:1] == "_" and name[:1] != "_":
                continue
            limit = (_len(name) + _len(c) + 3) * 2 // 6
            if best is not None:
                limit = _min(limit, best_d - 1)
            d = edit_distance(name, c, limit)
            if d <= limit and (best is None or d < best_d):
                best, best_d = c, d
        return best

    def suggestion(e):
        """The name Python would suggest for e, or None."""
        try:
            name = _getattr(e, "name", None)
            if _type(name) is not _str:
                return None
            if _type(e) is _NameError:
                tb = e.__traceback__
                while tb is not None and tb.tb_next is not None:
                    tb = tb.tb_next
                if tb is None:
                    return None
                f = tb.tb_frame
                for scope in (f.f_locals, f.f_globals):
                    if _type(scope) is _dict:
                        hit = closest(name, _sorted([k for k in _dict.keys(scope) if _type(k) is _str]))
                        if hit is not None:
                            return hit
                return closest(name, _builtin_names)
            if _type(e) is _AttributeError:
                obj = _getattr(e, "obj", None)
                if obj is None or not _any(_type(obj).__dir__ is d for d in _plain_dirs):
                    return None
                return closest(name, _sorted([k for k in _dir(obj) if _type(k) is _str]))
        except _BaseException:
            pass
        return None

    def exc_record(e):
        t = _type(e)
        name = t.__name__ if _isinstance(t.__name__, _str) else "Exception"
        try:
            msg = _str(e)
            if _type(msg) is not _str:
                msg = ""
        except _BaseException:
            msg = "<exception str() failed>"
        hint = suggestion(e)
        if hint is not None:
            msg += ". Did you mean: %s?" % _repr(hint)
        if _len(msg) > 500:
            msg = msg[:500] + "..."
        return {"type": name, "msg": msg, "tb": frames(e.__traceback__)}

    # --- tests are parsed once, before the program runs ---

    def compile_tests(tree, drop):
        """Compiles parsed tests into (kind, code, msg) items, one per
        top-level statement, of the kinds test_kinds gives. drop maps the
        index of a top-level assert to the operands of its comparison that
        the host compares instead: they are never compiled, so the child
        never holds the expected values."""
        items = []
        kinds = test_kinds(tree)
        for n, node in _enumerate(tree.body):
            if kinds[n] == "assert":
                truth = truth_test(node.test)
                if truth is None:
                    test = compile_assert(node.test, drop.get(n, ()))
                else:
                    # `assert X` and `assert not X` both become "the truth
                    # value of X == <hidden>": the child evaluates X and
                    # cannot tell which the test wants.
                    x, want = truth
                    const = ast.copy_location(ast.Constant(want), x)
                    test = ("cmp", [("truth", expr(x)), None if 1 in drop.get(n, ()) else expr(const)], ["=="])
                items.append(("assert", test,
                              None if node.msg is None else _compile(ast.Expression(node.msg), "<tests>", "eval")))
            else:
                code = _compile(ast.Module([node], []), "<tests>", "exec")
                items.append((kinds[n], code, None))
        return items

    def expr(node):
        if _isinstance(node, ast.Constant) and node.value is Ellipsis:
            return None
        # The node comes from ast.parse, so it has its locations already.
        return _compile(ast.Expression(node), "<tests>", "eval")

    def compile_assert(node, drop=()):
        if _isinstance(node, ast.Compare):
            operands = [node.left] + node.comparators
            return ("cmp", [None if k in drop else expr(op) for k, op in _enumerate(operands)],
                    [_cmp_sym[_type(o)] for o in node.ops])
        if _isinstance(node, ast.UnaryOp) and _isinstance(node.op, ast.Not):
            return ("not", compile_assert(node.operand))
        if _isinstance(node, ast.BoolOp):
            return ("and" if _isinstance(node.op, ast.And) else "or", [compile_assert(v) for v in node.values])
        return ("value", expr(node))

    def compare(a, op, b):
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "in":
            return a in b
        if op == "not in":
            return a not in b
        if op == "is":
            return a is b or (a == b and (a is None or _type(a) is _bool))
        return not (a is b or (a == b and (a is None or _type(a) is _bool)))

    def judge(c, g, vals):
        """Evaluates a compiled assert on plain copies. Returns (ok, why);
        appends (canon, repr) of every checked value to vals."""
        kind = c[0]
        if kind == "cmp":
            # An operand compiled to None was a literal the worker removed
            # (reference mode): the host compares that side, not the child.
            codes, ops = c[1], c[2]
            left = None
            for k, code in _enumerate(codes):
                if code is None:
                    right = _SKIP
                    vals.append(("?", "?"))
                else:
                    right = plain(_eval(code[1] if _type(code) is _tuple else code, g))
                    if _type(code) is _tuple:  # ("truth", code): its truth value
                        right = _bool(right)
                    vals.append((canon(right), short(right)))
                if k > 0 and left is not _SKIP and right is not _SKIP and not _bool(compare(left, ops[k - 1], right)):
                    return False, "%s %s %s" % (short(left), _cmp_neg[ops[k - 1]], short(right))
                left = right
            return True, ""
        if kind == "not":
            ok, why = judge(c[1], g, vals)
            if ok:
                return False, "expected a false value"
            return True, ""
        if kind == "and":
            for sub in c[1]:
                ok, why = judge(sub, g, vals)
                if not ok:
                    return False, why
            return True, ""
        if kind == "or":
            why = ""
            for sub in c[1]:
                ok, why = judge(sub, g, vals)
                if ok:
                    return True, ""
            return False, why
        v = plain(_eval(c[1], g))
        vals.append((canon(v), short(v)))
        return _bool(v), "" if v is False else "the value is %s" % short(v)

    def run(job, resfd):
        nonce = job.pop("nonce")
        emit = make_emit(resfd)
        # The worker parsed and compiled the tests (see Worker.tests_for).
        parsed, items = job["tests"]
        if parsed != "ok":
            emit(items)
            emit({"k": "done", "nonce": nonce})
            return
        g = {"__name__": "__main__", "__builtins__": builtins}
        for name, src in (("<setup>", job.get("setup", "")), ("<program>", job["program"])):
            try:
                code = _compile(src, name, "exec", dont_inherit=True)
            except (_SyntaxError, _ValueError) as e:
                emit({"k": "syntax", "where": name, "line": _getattr(e, "lineno", 0) or 0,
                      "text": _getattr(e, "text", "") or "", "msg": _str(_getattr(e, "msg", e)),
                      "type": _type(e).__name__})
                emit({"k": "done", "nonce": nonce})
                return
            except _BaseException as e:
                emit(_dict(exc_record(e), k="progerr", where=name))
                emit({"k": "done", "nonce": nonce})
                return
            try:
                _exec(code, g)
            except _BaseException as e:
                emit(_dict(exc_record(e), k="progerr", where=name))
                emit({"k": "done", "nonce": nonce})
                return
            flush()
        emit({"k": "ran"})
        i = 0
        pending = None
        # An exception in a statement after the last test (`check(f)` after
        # `def check(...)` in HumanEval) fails that test: its record waits.
        last = -1
        for k, item in _enumerate(items):
            if item[0] != "stmt":
                last = k
        held = None
        for k, (kind, code, msg) in _enumerate(items):
            if kind == "stmt":
                try:
                    _exec(code, g)
                except _BaseException as e:
                    pending = exc_record(e)
                continue
            rec = {"k": "test", "i": i}
            i += 1
            if pending is not None:
                rec.update(pending, ok=False, err="exception")
                pending = None
                emit(rec)
                continue
            vals = []
            try:
                if kind == "block":
                    _exec(code, g)
                    ok, why = True, ""
                else:
                    ok, why = judge(code, g, vals)
                    if ok and msg is not None and any(c == "?" for c, _ in vals):
                        # The host may still fail this test on a removed
                        # literal; it needs the message Python would show.
                        try:
                            rec["amsg"] = _str(plain(_eval(msg, g)))
                        except _BaseException:
                            pass
                    if not ok and msg is not None:
                        try:
                            why = _str(plain(_eval(msg, g)))
                        except _BaseException:
                            pass
                rec["ok"] = ok
                if not ok:
                    rec.update(err="assertion", type="AssertionError", msg=why, tb=[])
            except NotPlain as e:
                rec.update(ok=False, err="exception", type="TypeError", msg=_str(e.args[0]), tb=[])
            except _BaseException as e:
                rec.update(exc_record(e), ok=False,
                           err="assertion" if _type(e) is _AssertionError else "exception")
            if kind == "assert" and code[0] == "cmp":
                rec["ops"] = code[2]
            if vals:
                rec["vals"] = [c for c, _ in vals]
                rec["reprs"] = [r for _, r in vals]
            flush()
            if k == last and k + 1 < _len(items):
                held = rec
            else:
                emit(rec)
        if held is not None:
            if pending is not None and held["ok"]:
                held.update(pending, ok=False, err="exception")
            emit(held)
        emit({"k": "done", "nonce": nonce})

    def flush():
        for s in (_stdout, _stderr):
            try:
                s.flush()
            except _BaseException:
                pass

    def main(job, resfd):
        try:
            run(job, resfd)
        except _RecursionError:
            pass
        except _BaseException:
            pass
        flush()
        _exit(0)

    return main, compile_tests, plain, canon, short


def truth_test(test):
    """For a test `assert X` or `assert not X`, where X is neither a
    comparison nor and/or: (X, the truth value X must have). Such a test is
    checked as a comparison of X's truth value with a literal the child
    never sees, so a program that reads or rewrites the harness cannot
    answer for it without knowing which way it goes. None otherwise."""
    want = True
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, want = test.operand, not want
    if isinstance(test, (ast.Compare, ast.BoolOp)):
        return None
    return test, want


def has_assert(node):
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def test_kinds(tree):
    """The kind of each top-level statement of the tests: "assert" (a test),
    "block" (a test run as a whole: a statement with asserts inside, or a
    call of a function the tests define with asserts inside, like
    HumanEval's `check(candidate)`), or "stmt" (test setup, including the
    definition of such a function: defining it tests nothing)."""
    checkers = {node.name for node in tree.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and has_assert(node)}
    kinds = []
    for node in tree.body:
        if isinstance(node, ast.Assert):
            kinds.append("assert")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kinds.append("stmt")
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and isinstance(node.value.func, ast.Name) and node.value.func.id in checkers):
            kinds.append("block")
        else:
            kinds.append("block" if has_assert(node) else "stmt")
    return kinds


HARNESS, COMPILE_TESTS, PLAIN, CANON, SHORT = make_harness()


# ---- the child: prepared ahead of time, privileges dropped before the job ----

def child_main(job_r, out_fd, err_fd, res_fd):
    os.setpgid(0, 0)
    for s in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)
    n = int.from_bytes(read_exact(job_r, 4), "big")
    # marshal, not JSON: the job carries compiled tests, and decoding it
    # touches far fewer of the pages the child shares with the worker.
    job = marshal.loads(read_exact(job_r, n))
    job["tests"] = marshal.loads(job["tests"])
    os.close(job_r)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    keep = 3
    os.dup2(res_fd, keep)
    os.closerange(keep + 1, 1 << 16)
    os.chdir(CONFIG["workdir"])
    t = max(1, int(job["timeout"] + 0.999)) + 1
    lim = [
        (resource.RLIMIT_CPU, t),
        (resource.RLIMIT_AS, CONFIG["memory_bytes"]),
        (resource.RLIMIT_NPROC, CONFIG["max_procs"]),
        (resource.RLIMIT_FSIZE, CONFIG["output_bytes"]),
        (resource.RLIMIT_NOFILE, CONFIG["max_files"]),
        (resource.RLIMIT_CORE, 0),
    ]
    for r, v in lim:
        resource.setrlimit(r, (v, v))
    if LAYERS.get("uid_drop"):
        os.setgroups([])
        os.setresgid(UID, UID, UID)
        os.setresuid(UID, UID, UID)
    elif os.getuid() == 0:
        drop_caps()
    if not NO_NEW_PRIVS:
        # No setuid binary (su, mount, ...) may give the check privileges back.
        libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    gc.enable()
    HARNESS(job, keep)


class Worker:
    def __init__(self):
        self.out = os.memfd_create("stdout", 0)
        self.err = os.memfd_create("stderr", 0)
        self.res = os.memfd_create("result", 0)
        self.child = None
        self.tests_cache = {}

    def prefork(self):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(w)
                child_main(r, self.out, self.err, self.res)
            finally:
                os._exit(70)
        os.close(r)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        self.child = (pid, pidfd_open(pid), w)

    def cleanup(self):
        """Kills and reaps everything the last check left behind and gives
        the next check an empty /tmp."""
        if CONFIG["pidns"]:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
        elif LAYERS.get("uid_drop"):
            kill_uid(UID)
        else:
            kill_descendants()
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG if not CONFIG["pidns"] else 0)
                if pid == 0:
                    break
            except ChildProcessError:
                break
        if LAYERS.get("private_tmp"):
            # Most checks write nothing: keep an untouched /tmp rather than
            # mounting a new one.
            try:
                st = os.stat("/tmp")
                dirty = st.st_mode != 0o41777 or st.st_uid != 0 or os.listdir("/tmp")
            except OSError:
                dirty = True
            if dirty:
                umount("/tmp")
                fresh_tmp()
        else:
            wipe(CONFIG["workdir"])
        for fd in (self.out, self.err, self.res):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)

    def tests_for(self, src, variant):
        """What the host and the child need to know about the tests,
        computed here, where no untrusted code ever runs, once per tests
        source. The host gets each test's source and line and the value
        (canon, repr) of every literal operand it compares itself. The
        child gets the tests compiled, marshalled: parsing them in every
        child cost about a third of its page faults (copies of the worker's
        memory). Entries keep no syntax tree, so the worker stays small and
        forks fast. Returns (info, marshalled ("ok", items) or ("syntax",
        the record the child reports))."""
        entry = self.tests_cache.get(src)
        if entry is None:
            try:
                tree = ast.parse(src, "<tests>")
                lines = src.split("\n")
                tests = [{"text": source_segment(src, lines, node), "line": node.lineno}
                         for node, kind in zip(tree.body, test_kinds(tree)) if kind != "stmt"]
                lits, eq_drop = literal_operands(tree, eq_only=True)
                _, all_drop = literal_operands(tree, eq_only=False)
                drop = {"check": eq_drop, "strip": all_drop, "keep": {}}
                # Compiling finds what parsing does not (return or yield
                # outside a function...); every variant compiles alike.
                entry = {"info": {"tests": tests, "lits": lits}, "drop": drop,
                         "compiled": {variant: marshal.dumps(("ok", COMPILE_TESTS(tree, drop[variant])))}}
            except SyntaxError as e:
                entry = tests_error(e, "line %s: %s" % (e.lineno, e.msg), e.lineno or 0, e.text or "", str(e.msg))
            except Exception as e:  # null bytes, nesting too deep for the parser or compiler
                entry = tests_error(e, str(e), 0, "", "%s: %s" % (type(e).__name__, e))
            if len(self.tests_cache) > 256:
                self.tests_cache.clear()
            self.tests_cache[src] = entry
        if "error" in entry:
            return entry["info"], entry["error"]
        compiled = entry["compiled"].get(variant)
        if compiled is None:
            tree = ast.parse(src, "<tests>")
            compiled = marshal.dumps(("ok", COMPILE_TESTS(tree, entry["drop"][variant])))
            entry["compiled"][variant] = compiled
        return entry["info"], compiled

    def check(self, job):
        if job.pop("strip", False):
            # Reference mode: the host compares every value with the
            # reference's, so every literal operand can go.
            variant = "strip"
        elif job["mode"] == "check":
            # Literals beside == and != are compared by the host.
            variant = "check"
        else:
            variant = "keep"
        info, job["tests"] = self.tests_for(job["tests"], variant)
        if variant == "strip":
            info = {k: v for k, v in info.items() if k != "lits"}
        if self.child is None:
            self.prefork()
        pid, pidfd, w = self.child
        self.child = None
        data = marshal.dumps(job)
        timed_out = False
        try:
            data = len(data).to_bytes(4, "big") + data
            while data:
                n = os.write(w, data)
                data = data[n:]
        except OSError:
            pass
        os.close(w)
        st = wait_child(pid, pidfd, job["timeout"])
        if st is None:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            os.kill(pid, signal.SIGKILL)
            # The CPU time the child used tells a program that spins (it
            # would time out on any machine) from one starved by load.
            _, st, usage = os.wait4(pid, 0)
            cpu_s = usage.ru_utime + usage.ru_stime
        if pidfd is not None:
            os.close(pidfd)
        reply = {"id": job["id"], "timed_out": timed_out}
        if timed_out:
            reply["cpu_s"] = cpu_s
        if os.WIFSIGNALED(st):
            reply["signal"] = os.WTERMSIG(st)
        else:
            reply["exit"] = os.WEXITSTATUS(st)
        # Read what is there, not the cap: os.pread allocates its whole
        # length first, and a 4 MiB buffer per check is an mmap and mremap.
        size = min(os.fstat(self.res).st_size, MAX_RECORDS)
        reply["records"] = os.pread(self.res, size, 0).decode("utf-8", "replace")
        cap = CONFIG["show_bytes"]
        for name, fd in (("stdout", self.out), ("stderr", self.err)):
            size = os.fstat(fd).st_size
            reply[name] = os.pread(fd, min(size, cap), 0).decode("utf-8", "replace")
            reply[name + "_size"] = size
        reply.update(info)
        return reply


def tests_error(e, summary, line, text, msg):
    """The tests cache entry of tests that do not compile: the host is told
    why, and a child that runs them reports it as a syntax record."""
    return {"info": {"tests": [], "tests_error": summary},
            "error": marshal.dumps(("syntax", {"k": "syntax", "where": "<tests>", "line": line,
                                               "text": text, "msg": msg}))}


def source_segment(src, lines, node):
    """ast.get_source_segment for a node of src split at "\n" once (the
    standard library splits the whole source again for every node).
    Column offsets are in UTF-8 bytes."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if last >= len(lines) or "\r" in src or "\f" in src:
        return ast.get_source_segment(src, node) or ""
    if first == last:
        return lines[first].encode()[node.col_offset:node.end_col_offset].decode("utf-8", "replace")
    parts = [lines[first].encode()[node.col_offset:].decode("utf-8", "replace")]
    parts.extend(lines[first + 1:last])
    parts.append(lines[last].encode()[:node.end_col_offset].decode("utf-8", "replace"))
    return "\n".join(parts)


def literal_operands(tree, eq_only):
    """Finds the literal operands of top-level assert comparisons, which
    the host compares so that the child never holds the expected values (a
    program that reads or rewrites the harness would have to compute them).
    With eq_only, only operands whose neighbouring operators are all == or
    != (the host can compare those without Python). Returns, per test,
    [{operand index, canon, repr}] of each such literal, and for each
    top-level assert (by index in tree.body) the set of operands to drop."""
    lits, drop = [], {}
    for n, (node, kind) in enumerate(zip(tree.body, test_kinds(tree))):
        if kind != "assert":
            if kind == "block":
                lits.append([])
            continue
        mine = []
        lits.append(mine)
        truth = truth_test(node.test)
        if truth is not None:
            mine.append({"k": 1, "c": CANON(truth[1]), "r": SHORT(truth[1])})
            drop[n] = {1}
            continue
        if not isinstance(node.test, ast.Compare):
            continue
        operands = [node.test.left] + node.test.comparators
        ops = [type(o) for o in node.test.ops]
        for k, op in enumerate(operands):
            if isinstance(op, ast.Constant) and op.value is Ellipsis:
                continue
            near = ops[max(k - 1, 0):k + 1]
            if eq_only and any(o not in (ast.Eq, ast.NotEq) for o in near):
                continue
            try:
                value = PLAIN(ast.literal_eval(op))
                mine.append({"k": k, "c": CANON(value), "r": SHORT(value)})
            except Exception:
                continue
            drop.setdefault(n, set()).add(k)
    return lits, drop


def pidfd_open(pid):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None  # Python < 3.9 or Linux < 5.3: poll waitpid instead


def wait_child(pid, pidfd, timeout):
    """Waits up to timeout seconds for the child; returns its wait status,
    or None if it is still running."""
    if pidfd is not None:
        p = select.poll()
        p.register(pidfd, select.POLLIN)
        if not p.poll(int(timeout * 1000)):
            return None
        return os.waitpid(pid, 0)[1]
    deadline = time.monotonic() + timeout
    delay = 0.0002
    while True:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            return st
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.002)


def reap_exited():
    """Reaps every child that has exited, without waiting for the rest."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass
    except ChildProcessError:
        pass


def kill_uid(uid):
    # Without a PID namespace, everything running as the check's uid is a
    # leftover of a check (the uid is reserved for this worker).
    for _ in range(100):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.stat("/proc/" + name).st_uid == uid:
                    found = True
                    os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
        reap_exited()
        if not found:
            return


def kill_descendants():
    # No PID namespace and no uid of its own: as a child subreaper this
    # process inherits every orphan of the check, so its children (and
    # theirs) are exactly what the check left behind.
    me = os.getpid()
    for _ in range(100):
        parents = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/stat" % name, "rb") as f:
                        stat = f.read()
                    parents[int(name)] = int(stat[stat.rindex(b")") + 2:].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        mine, grew = {me}, True
        while grew:
            grew = False
            for pid, ppid in parents.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    grew = True
        mine.discard(me)
        for pid in mine:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reap_exited()
        if not mine:
            return
        time.sleep(0.001)


def wipe(path):
    for entry in os.scandir(path):
        p = entry.path
        try:
            if entry.is_dir(follow_symlinks=False):
                wipe(p)
                os.rmdir(p)
            else:
                os.unlink(p)
        except OSError:
            pass


PRELOAD = ("math", "cmath", "re", "heapq", "collections", "itertools", "functools", "bisect",
           "string", "operator", "random", "statistics", "copy", "fractions", "decimal",
           "datetime", "time", "array", "typing", "json", "hashlib", "textwrap", "struct",
           "calendar", "enum", "dataclasses", "numbers", "sys", "os", "io", "collections.abc")


def readable_by_others(path):
    parts = os.path.realpath(path).strip("/").split("/")
    for i in range(1, len(parts) + 1):
        if os.stat("/" + "/".join(parts[:i])).st_mode & 0o001 == 0:
            return False
    return True


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if CONFIG["mountns"]:
        try:
            setup_mounts()
        except OSError as e:
            log("mount setup failed: %s" % e)
            LAYERS["private_tmp"] = False
    if not LAYERS.get("private_tmp"):
        os.makedirs(CONFIG["workdir"], exist_ok=True)
        os.chmod(CONFIG["workdir"], 0o1777)
    LAYERS["pid_namespace"] = bool(CONFIG["pidns"])
    LAYERS["subreaper"] = bool(CONFIG["pidns"]) or set_subreaper()
    LAYERS["uid_drop"] = os.getuid() == 0 and UID != 0 and probe_uid_drop()
    LAYERS["rlimits"] = probe_rlimits()
    if LAYERS["uid_drop"] and not LAYERS.get("private_tmp") and not readable_by_others(os.path.dirname(os.__file__)):
        # Without a mount namespace the check's uid may not reach the
        # standard library (pyenv under /root, mode 0700): load what tasks
        # commonly import now, so the children inherit it.
        n = 0
        for name in PRELOAD:
            try:
                __import__(name)
                n += 1
            except ImportError:
                pass
        log("standard library not readable by uid %d; preloaded %d modules" % (UID, n))
    # The worker never executes a program, so it can give up gaining
    # privileges through execve itself; its children inherit that, and
    # need not call into ctypes for it.
    global NO_NEW_PRIVS
    NO_NEW_PRIVS = libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    # Freeze the warm heap so the children's garbage collector does not
    # touch (and copy) every page of it.
    gc.collect()
    gc.freeze()
    w = Worker()
    w.prefork()
    write_frame(REPLY_OUT, {"hello": LAYERS, "python": sys.version.split()[0]})
    while True:
        try:
            job = read_frame(JOB_IN)
        except EOFError:
            return
        reply = w.check(job)
        write_frame(REPLY_OUT, reply)
        w.cleanup()
        w.prefork()


main()
