"""Lathe's function miner: turns source files into repair tasks.

Reads JSON lines {"path": ..., "text": ...} on stdin and writes one JSON
line per mined function: {"task_id", "program", "tests", "source"}. A
function is kept when it is self-contained (it names only its parameters,
its own locals and a list of harmless builtins, imports nothing, touches no
dunder attribute), is short, and gives literal results on at least three
generated argument tuples with at least two distinct results; those calls,
recorded, are its tests. Only functions that pass the name filter are ever
called, each call under a time limit, in this process under the resource
limits set in main().
"""
import ast
import builtins
import copy
import json
import random
import signal
import sys

SAFE_BUILTINS = {
    "abs", "all", "any", "bin", "bool", "chr", "dict", "divmod", "enumerate",
    "filter", "float", "frozenset", "hex", "int", "isinstance", "len", "list",
    "map", "max", "min", "oct", "ord", "pow", "range", "repr", "reversed",
    "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip", "True",
    "False", "None", "ValueError", "TypeError", "IndexError", "KeyError",
    "ZeroDivisionError", "Exception", "StopIteration", "iter", "next", "hash",
    "bytes", "complex", "format", "callable", "issubclass",
}
FORBIDDEN_NODES = (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal,
                   ast.Yield, ast.YieldFrom, ast.Await, ast.AsyncFunctionDef,
                   ast.AsyncFor, ast.AsyncWith, ast.With, ast.ClassDef,
                   ast.Lambda)

POOL = [
    0, 1, 2, 3, 5, 7, 10, -1, -4, 12, 100,
    0.5, 2.5, -1.25,
    "", "a", "abc", "hello world", "Hello, World!", "  padded  ", "a,b,c",
    "12345", "aAbB", "racecar", "x_y_z",
    [], [1], [1, 2, 3], [3, 1, 2], [5, -2, 7, 0], [2, 2, 4], ["a", "b"],
    ["hello", "world"], [[1, 2], [3]], (1, 2), (0, 5, 9), {"a": 1, "b": 2},
    True, False, None,
]


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def literal(v, depth=0):
    """Whether repr(v) evaluates back to v: the value can sit in an assert."""
    if depth > 4:
        return False
    if v is None or isinstance(v, (bool, int, str)):
        return True
    if isinstance(v, float):
        return v == v and abs(v) != float("inf")
    if isinstance(v, (list, tuple, set, frozenset)):
        return all(literal(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(literal(k, depth + 1) and literal(x, depth + 1) for k, x in v.items())
    return False


def free_names(fn):
    """The names fn reads that are not its own, or None if fn may not be
    mined at all (imports, nested definitions, dunder attributes...)."""
    params = {a.arg for a in fn.args.args + fn.args.kwonlyargs + fn.args.posonlyargs}
    if fn.args.vararg or fn.args.kwarg or fn.decorator_list:
        return None
    local = set(params)
    for node in ast.walk(fn):
        if isinstance(node, FORBIDDEN_NODES):
            return None
        if isinstance(node, ast.FunctionDef) and node is not fn:
            return None
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return None
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            local.add(node.id)
        if isinstance(node, ast.arg):
            local.add(node.arg)
    free = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in local and node.id not in SAFE_BUILTINS:
                free.add(node.id)
    return free


def module_parts(tree):
    """The module's literal constants (name -> assignment source) and its
    functions (name -> FunctionDef)."""
    consts, funcs = {}, {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            src = ast.unparse(node)
            if literal(value) and len(src) <= 120:
                consts[node.targets[0].id] = src
        elif isinstance(node, ast.FunctionDef):
            funcs[node.name] = node
    return consts, funcs


def program_for(fn, consts, funcs):
    """fn's source preceded by what it needs of its module: literal
    constants and self-contained helper functions (one level), or None."""
    free = free_names(fn)
    if free is None:
        return None
    head, helpers = [], []
    for name in sorted(free):
        if name in consts:
            head.append(consts[name])
            continue
        h = funcs.get(name)
        if h is None or h is fn:
            return None
        hfree = free_names(h)
        if hfree is None or any(n not in consts for n in hfree):
            return None
        head.extend(consts[n] for n in sorted(hfree) if consts[n] not in head)
        helpers.append(ast.unparse(strip_docstring(h)))
    src = ast.unparse(strip_docstring(fn))
    return "\n".join(head + [""] * bool(head) + [h + "\n" for h in helpers] + [src])


def strip_docstring(fn):
    fn = copy.deepcopy(fn)  # a helper is stripped once per function using it
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
        fn.body = body[1:] or [ast.Pass()]
    return fn


def call(f, args, limit):
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return f(*copy.deepcopy(args))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def record_tests(name, f, nargs, rng, tries, limit):
    seen, tests, results = set(), [], set()
    for _ in range(tries):
        args = tuple(rng.choice(POOL) for _ in range(nargs))
        key = repr(args)
        if key in seen:
            continue
        seen.add(key)
        try:
            v = call(f, args, limit)
            again = call(f, args, limit)
        except Timeout:
            return None  # slow or endless on some input: not a good task
        except BaseException:
            continue
        if not literal(v) or v != again or len(repr(v)) > 60:
            continue
        call_src = "%s(%s)" % (name, ", ".join(repr(a) for a in args))
        tests.append("assert %s == %r" % (call_src, v))
        results.add(repr(v))
        if len(tests) >= 5 and len(results) >= 2:
            break
    if len(tests) < 3 or len(results) < 2:
        return None
    return tests


def mine_file(path, text, rng, opts, out, seen):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    consts, funcs = module_parts(tree)
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        nargs = len(fn.args.args) - len(fn.args.defaults)
        if nargs < 1 or nargs > 3:
            continue
        src = program_for(fn, consts, funcs)
        if src is None:
            continue
        lines = src.count("\n") + 1
        # Functions that differ only in their name are one program.
        key = src.replace("def %s(" % fn.name, "def _(")
        if lines < opts["min_lines"] or lines > opts["max_lines"] or key in seen:
            continue
        seen.add(key)
        ns = {"__builtins__": {k: getattr(builtins, k) for k in SAFE_BUILTINS if hasattr(builtins, k)}}
        try:
            exec(compile(src, "<mined>", "exec"), ns)
        except BaseException:
            continue
        tests = record_tests(fn.name, ns[fn.name], nargs, rng, opts["tries"], opts["call_limit_s"])
        if tests is None:
            continue
        out.write(json.dumps({"task_id": "%s:%s" % (path, fn.name),
                              "program": src + "\n", "tests": "\n".join(tests) + "\n",
                              "source": path}) + "\n")
        out.flush()


def main():
    opts = json.loads(sys.stdin.readline())
    try:
        import resource
        limit = opts["memory_mb"] << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # no resource module or limit refused: the host's timeout still holds
    signal.signal(signal.SIGALRM, on_alarm)
    sys.setrecursionlimit(200)
    rng = random.Random(opts["seed"])
    seen = set()
    for line in sys.stdin:
        doc = json.loads(line)
        mine_file(doc["path"], doc["text"], rng, opts, sys.stdout, seen)


if __name__ == "__main__":
    main()
