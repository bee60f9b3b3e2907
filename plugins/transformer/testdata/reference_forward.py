#!/usr/bin/env python3
"""An independent forward pass of the transformer plugin's network.

Written from the architecture described in model.go, rope.go, copyhead.go
and the op_*.go kernels, not translated from their loops: plain float64
Python, standard library only, one sequence at a time, no caching, no
blocking, no fast-math approximations. reference_test.go holds the Go
forward pass to it, so a mistake that the gradient checks cannot see (one
that the forward and backward share, such as a wrong scale, a transposed
weight, a head read from the wrong columns or a position off by one) shows
up as a difference in the output.

Usage:
    reference_forward.py CHECKPOINT_DIR [TOKENS_JSON]

TOKENS_JSON (argv, or stdin when absent) is a list of token ids, or a list
of such lists for several independent sequences. The output is, per
sequence, a [T][V] array: row t is what the network outputs after reading
tokens[0..t], which is the vocabulary logits without the copy head and the
mixture's log-probabilities with it (the Go model's "logits" either way).
Ids the tokenizer lacks (256 + len(merges) and above) come out as null,
since the Go model forces them to -inf and JSON has no infinity.

The checkpoint is the directory Model.Save writes (checkpoint.go):
manifest.json (config, parameter names and shapes in slab order, tokenizer
merges, SHA-256 of weights.bin) and weights.bin (the parameter slab, then
AdamW's two moments, each little-endian float32).
"""

import hashlib
import json
import math
import operator
import os
import struct
import sys

LN_EPS = 1e-5  # op_layernorm.go
ROPE_BASE = 10000.0  # rope.go


def load(ckpt):
    with open(os.path.join(ckpt, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(ckpt, "weights.bin"), "rb") as f:
        buf = f.read()
    if hashlib.sha256(buf).hexdigest() != man["weights_sha256"]:
        sys.exit("weights.bin does not match the manifest's SHA-256")
    sizes = [math.prod(p["shape"]) for p in man["params"]]
    n = sum(sizes)
    if len(buf) != 3 * 4 * n:
        sys.exit("weights.bin has %d bytes, the manifest implies %d" % (len(buf), 3 * 4 * n))
    flat = struct.unpack("<%df" % n, buf[: 4 * n])  # parameters only, not the moments
    params, off = {}, 0
    for p, size in zip(man["params"], sizes):
        vals = list(flat[off : off + size])
        off += size
        if len(p["shape"]) == 2:  # matrices are [out, in], row-major
            cols = p["shape"][1]
            vals = [vals[r * cols : (r + 1) * cols] for r in range(p["shape"][0])]
        params[p["name"]] = vals
    return man, params


def dot(x, y):
    return sum(map(operator.mul, x, y))


def linear(x, w, b=None):
    """w x + b for one vector x, with w stored [out, in]."""
    y = [dot(row, x) for row in w]
    if b is not None:
        y = [v + c for v, c in zip(y, b)]
    return y


def layer_norm(x, g, b):
    mean = sum(x) / len(x)
    var = sum((v - mean) ** 2 for v in x) / len(x)  # biased, eps inside the root
    r = 1 / math.sqrt(var + LN_EPS)
    return [(v - mean) * r * gi + bi for v, gi, bi in zip(x, g, b)]


def gelu(x):
    """GPT-2's tanh approximation, which op_gelu.go implements."""
    k = math.sqrt(2 / math.pi)
    return 0.5 * x * (1 + math.tanh(k * (x + 0.044715 * x**3)))


def softmax(s):
    mx = max(s)
    e = [math.exp(v - mx) for v in s]
    tot = sum(e)
    return [v / tot for v in e]


def rotate(x, pos):
    """Rotary embedding of one head's vector: pair (j, j + hs/2) turns by
    pos * base^(-2j/hs)."""
    hs = len(x)
    half = hs // 2
    out = list(x)
    for j in range(half):
        theta = pos * ROPE_BASE ** (-2 * j / hs)
        c, s = math.cos(theta), math.sin(theta)
        a, b = x[j], x[j + half]
        out[j], out[j + half] = a * c - b * s, a * s + b * c
    return out


def forward(man, P, tokens):
    cfg = man["config"]
    C, H, V = cfg["d_model"], cfg["heads"], cfg["vocab"]
    rope = cfg["position"] == "rope"
    hs = C // H
    live = 256 + len(man["merges"] or [])
    T = len(tokens)
    if T > cfg["context"]:
        sys.exit("%d tokens exceed the context of %d" % (T, cfg["context"]))

    # Token embedding, plus the learned position embedding unless rotary
    # positions are used (wpe is then in the checkpoint but ignored).
    x = []
    for t, tok in enumerate(tokens):
        e = list(P["wte"][tok])
        if not rope:
            e = [a + b for a, b in zip(e, P["wpe"][t])]
        x.append(e)

    for l in range(cfg["layers"]):
        p = lambda name: P["h%d.%s" % (l, name)]
        # Attention sublayer: x += proj(attn(ln1(x))).
        q, k, v = [], [], []
        for t in range(T):
            qkv = linear(layer_norm(x[t], p("ln1.g"), p("ln1.b")), p("attn.qkv.w"), p("attn.qkv.b"))
            qs, ks, vs = qkv[:C], qkv[C : 2 * C], qkv[2 * C :]
            heads = lambda vec: [vec[h * hs : (h + 1) * hs] for h in range(H)]
            qh, kh = heads(qs), heads(ks)
            if rope:
                qh = [rotate(u, t) for u in qh]
                kh = [rotate(u, t) for u in kh]
            q.append(qh)
            k.append(kh)
            v.append(heads(vs))
        for t in range(T):
            y = []
            for h in range(H):
                # Causal: position t sees positions 0..t.
                a = softmax([dot(q[t][h], k[j][h]) / math.sqrt(hs) for j in range(t + 1)])
                y += [sum(a[j] * v[j][h][d] for j in range(t + 1)) for d in range(hs)]
            x[t] = [r + o for r, o in zip(x[t], linear(y, p("attn.proj.w"), p("attn.proj.b")))]
        # MLP sublayer: x += proj(gelu(fc(ln2(x)))).
        for t in range(T):
            hid = linear(layer_norm(x[t], p("ln2.g"), p("ln2.b")), p("mlp.fc.w"), p("mlp.fc.b"))
            out = linear([gelu(u) for u in hid], p("mlp.proj.w"), p("mlp.proj.b"))
            x[t] = [r + o for r, o in zip(x[t], out)]

    h = [layer_norm(r, P["lnf.g"], P["lnf.b"]) for r in x]
    # Tied output head: logits are the final LayerNorm output against every
    # token embedding, no bias; ids outside the tokenizer are -inf.
    logits = []
    for t in range(T):
        z = [dot(h[t], P["wte"][w]) if w < live else -math.inf for w in range(V)]
        logits.append(z)
    if not cfg["copy"]:
        return logits
    return copy_head(P, tokens, h, logits, C)


def copy_head(P, tokens, h, logits, C):
    """The pointer mixture of copyhead.go:
    P(w) = g softmax(z)(w) + (1-g) sum_{j<t, tokens[j+1]=w} a_tj, with
    a_t = softmax_j(q_t . k_j / sqrt(C)), q = cq h, k = ck h and
    g = sigmoid(cg . h_t + cb); position 0 uses the vocabulary alone."""
    keys = [linear(r, P["copy.k.w"]) for r in h]
    out = []
    for t, z in enumerate(logits):
        mx = max(z)
        lse = mx + math.log(sum(math.exp(v - mx) for v in z))
        logpv = [v - lse for v in z]
        if t == 0:
            out.append(logpv)
            continue
        q = linear(h[t], P["copy.q.w"])
        a = softmax([dot(q, keys[j]) / math.sqrt(C) for j in range(t)])
        g = 1 / (1 + math.exp(-(dot(P["copy.gate.w"], h[t]) + P["copy.gate.b"][0])))
        mass = {}
        for j in range(t):
            w = tokens[j + 1]
            mass[w] = mass.get(w, 0.0) + a[j]
        row = []
        for w, lp in enumerate(logpv):
            pw = g * math.exp(lp) + (1 - g) * mass.get(w, 0.0)
            row.append(math.log(pw) if pw > 0 else -math.inf)
        out.append(row)
    return out


def finite_or_null(rows):
    return [[v if math.isfinite(v) else None for v in row] for row in rows]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    man, P = load(sys.argv[1])
    tokens = json.loads(sys.argv[2] if len(sys.argv) == 3 else sys.stdin.read())
    batch = bool(tokens) and isinstance(tokens[0], list)
    seqs = tokens if batch else [tokens]
    V = man["config"]["vocab"]
    for s in seqs:
        for tok in s:
            if not (isinstance(tok, int) and 0 <= tok < V):
                sys.exit("token id %r outside the vocabulary of %d" % (tok, V))
    outs = [finite_or_null(forward(man, P, s)) for s in seqs]
    json.dump(outs if batch else outs[0], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
