#!/usr/bin/python3
"""PyTorch side of `deno task bench torch`: the same workloads as kadapter's, timed the same way.

A case is a JSON object (bench/torch.ts writes them): {"kind": "fac" | "softmax" | "layernorm" |
"add" | "matmul" | "memcpy", ...shape fields}. The weights are random; the shapes and the math
are kadapter's: post-LN BERT layers with erf GELU, the frozen encoder under no_grad, the released
adapter (down_project, inner BERT layers, up_project, residual; hidden states summed), the fac
head on the subject/object marker rows, mean cross-entropy, backward, clipping at norm 1, AdamW.

  bench_torch.py CASE_JSON        warm-up, then the best of up to 5 runs within a 4 s budget;
                                  prints {"ms": best, ...} as one JSON line
  bench_torch.py --serve          one JSON command per stdin line, one JSON reply line each:
                                  {"id": n, "case": {...}} builds and warms up case n;
                                  {"id": n, "time": true} runs it once more and replies its ms;
                                  {"id": n, "drop": true} frees it. bench/torch.ts interleaves
                                  these with kadapter's runs so machine noise hits both.
Both first print an "info" line: torch version, threads, device, and the BLAS this process
loaded (OpenBLAS's config and core, read through ctypes).
Options: --threads N (intra-op threads, default 1), --device cpu|cuda (default cpu).
Debian's python3-torch suffices: run it with /usr/bin/python3.
"""
import argparse
import ctypes
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def blas_info(threads):
    """The BLAS mapped into this process, OpenBLAS's config and core; its threads set too
    (a pthread OpenBLAS keeps its own pool, which torch.set_num_threads does not size)."""
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if "blas" in l.lower() and "/" in l})
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_set_num_threads(threads)
            return {"blas": path, "config": lib.openblas_get_config().decode(),
                    "core": lib.openblas_get_corename().decode()}
        except (OSError, AttributeError):
            continue
    return {"blas": ", ".join(libs) or "none mapped", "config": None, "core": None}


class Ctx:
    def __init__(self, device):
        self.device = torch.device(device)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def randn(self, *shape, std=1.0, grad=False):
        t = torch.randn(*shape, device=self.device) * std
        return t.requires_grad_(grad)


def dense(ctx, n_in, n_out, grad):
    return {"w": ctx.randn(n_out, n_in, std=0.02, grad=grad),
            "b": ctx.randn(n_out, std=0.02, grad=grad)}


def norm(ctx, n, grad):
    return {"w": torch.ones(n, device=ctx.device).requires_grad_(grad),
            "b": torch.zeros(n, device=ctx.device).requires_grad_(grad)}


def bert_layer_weights(ctx, h, ffn, grad):
    return {"q": dense(ctx, h, h, grad), "k": dense(ctx, h, h, grad), "v": dense(ctx, h, h, grad),
            "o": dense(ctx, h, h, grad), "ln1": norm(ctx, h, grad),
            "i": dense(ctx, h, ffn, grad), "out": dense(ctx, ffn, h, grad),
            "ln2": norm(ctx, h, grad)}


def lin(x, d):
    return F.linear(x, d["w"], d["b"])


def ln(x, d, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], d["w"], d["b"], eps)


def bert_layer(w, x, add_mask, heads, p):
    """Post-LN BERT layer; dropout p (0 for the frozen encoder) on probabilities and outputs."""
    b, s, h = x.shape
    d = h // heads

    def split(t):
        return t.view(b, s, heads, d).transpose(1, 2)

    q, k, v = split(lin(x, w["q"])), split(lin(x, w["k"])), split(lin(x, w["v"]))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if add_mask is not None:
        scores = scores + add_mask
    probs = F.dropout(torch.softmax(scores, -1), p, p > 0)
    ctx = (probs @ v).transpose(1, 2).reshape(b, s, h)
    x = ln(x + F.dropout(lin(ctx, w["o"]), p, p > 0), w["ln1"])
    ff = lin(F.gelu(lin(x, w["i"])), w["out"])
    return ln(x + F.dropout(ff, p, p > 0), w["ln2"])


class FacStep:
    """One fac training step: frozen forward, adapter + head + loss, backward, clip, AdamW."""

    def __init__(self, ctx, c):
        self.ctx, self.c = ctx, c
        H, a = c["hidden"], c["adapter"]
        self.enc = {"word": ctx.randn(c["vocab"], H, std=0.02),
                    "pos": ctx.randn(c["maxPositions"], H, std=0.02),
                    "type": ctx.randn(1, H, std=0.02), "ln": norm(ctx, H, False),
                    "layers": [bert_layer_weights(ctx, H, c["ffn"], False)
                               for _ in range(c["layers"])]}
        A = a["size"]
        self.adapters = [{"down": dense(ctx, H, A, True),
                          "layers": [bert_layer_weights(ctx, A, a["ffn"], True)
                                     for _ in range(a["layers"])],
                          "up": dense(ctx, A, H, True)} for _ in a["list"]]
        self.head = {"com": dense(ctx, 2 * H, H, True), "dense": dense(ctx, 2 * H, H, True),
                     "out": dense(ctx, H, c["labels"], True)}
        self.params = list(_tensors([self.adapters, self.head]))
        self.opt = torch.optim.AdamW(self.params, lr=5e-5, weight_decay=0.0)

    def batch(self):
        c, dev = self.c, self.ctx.device
        B, S = c["batch"], c["seq"]
        ids = torch.full((B, S), 1, dtype=torch.long)
        mask = torch.zeros(B, S, dtype=torch.long)
        for i, n in enumerate(c["lengths"]):
            ids[i, :n] = torch.randint(3, c["vocab"], (n,))
            ids[i, 0] = 0
            mask[i, :n] = 1
        labels = torch.randint(0, c["labels"], (B,))
        return ids.to(dev), mask.to(dev), labels.to(dev)

    def run(self):
        c, e = self.c, self.enc
        ids, mask, labels = self.batch()
        B, S = ids.shape
        add_mask = (1.0 - mask.float())[:, None, None, :] * torch.finfo(torch.float32).min
        keep = sorted(set(c["adapter"]["list"] + [c["layers"]]))
        with torch.no_grad():
            pos = torch.cumsum(mask, 1) * mask + 1
            x = ln(e["word"][ids] + e["pos"][pos] + e["type"][0], e["ln"])
            states = [x]
            for w in e["layers"]:
                x = bert_layer(w, x, add_mask, c["heads"], 0.0)
                states.append(x)
        a, p = c["adapter"], 0.1
        inner_mask = add_mask if a["mask"] == "padding" else None
        prev = None
        for i, ad in enumerate(self.adapters):
            x = states[a["list"][i]] if prev is None else states[a["list"][i]] + prev
            h = lin(x, ad["down"])
            for w in ad["layers"]:
                h = bert_layer(w, h, inner_mask, a["heads"], p)
            prev = x + lin(h, ad["up"])
        last = states[keep[-1]]
        rows = torch.arange(B, device=self.ctx.device)
        subj = torch.tensor(c["subj"], device=self.ctx.device)
        obj = torch.tensor(c["obj"], device=self.ctx.device)
        # [2B, 2H] rows (subj_0, obj_0, ...) of cat(last, adapter), then com_dense per row.
        picked = torch.stack([rows * S + subj, rows * S + obj], 1).reshape(-1)
        feats = torch.cat([last.reshape(B * S, -1)[picked], prev.reshape(B * S, -1)[picked]], 1)
        com = lin(feats, self.head["com"]).reshape(B, -1)
        logits = lin(F.dropout(lin(com, self.head["dense"]), p, True), self.head["out"])
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=False)

    __call__ = run


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, dict):
        for v in tree.values():
            yield from _tensors(v)
    else:
        for v in tree:
            yield from _tensors(v)


def build(ctx, c):
    """A callable running the case once (results discarded)."""
    k = c["kind"]
    if k == "fac":
        return FacStep(ctx, c)
    if k == "matmul":
        a, b = ctx.randn(c["m"], c["k"]), ctx.randn(c["k"], c["n"])
        return lambda: torch.matmul(a, b)
    if k == "memcpy":
        n = c["bytes"] // 4
        src, dst = ctx.randn(n), torch.empty(n, device=ctx.device)
        return lambda: dst.copy_(src)
    x = ctx.randn(c["rows"], c["cols"])
    if k == "softmax":
        return lambda: torch.softmax(x, -1)
    if k == "layernorm":
        g, b = torch.ones(c["cols"], device=ctx.device), torch.zeros(c["cols"], device=ctx.device)
        return lambda: F.layer_norm(x, (c["cols"],), g, b, 1e-5)
    if k == "add":
        y = ctx.randn(c["rows"], c["cols"])
        return lambda: x + y
    raise ValueError(f"unknown case kind {k}")


def timed(ctx, fn):
    t0 = time.perf_counter()
    fn()
    ctx.sync()
    return (time.perf_counter() - t0) * 1000


def best_ms(ctx, fn, budget_ms=4000, max_reps=5):
    warm = timed(ctx, fn)
    reps = max(1, min(max_reps, int(budget_ms // max(warm, 1e-3))))
    return warm, min(timed(ctx, fn) for _ in range(reps))


def say(obj):
    print(json.dumps(obj), flush=True)


def serve(ctx):
    cases = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        i = cmd["id"]
        try:
            if "case" in cmd:
                cases[i] = build(ctx, cmd["case"])
                say({"id": i, "warm_ms": timed(ctx, cases[i])})
            elif cmd.get("time"):
                say({"id": i, "ms": timed(ctx, cases[i])})
            elif cmd.get("drop"):
                cases.pop(i, None)
                say({"id": i, "dropped": True})
        except Exception as e:  # reported to the bench, which prints kadapter's figure alone
            say({"id": i, "error": f"{type(e).__name__}: {e}"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", nargs="?", help="a case as JSON (else --serve)")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    o = ap.parse_args()
    default_threads = torch.get_num_threads()
    torch.set_num_threads(o.threads)
    if o.device == "cuda" and not torch.cuda.is_available():
        say({"info": True, "error": "torch has no CUDA device"})
        sys.exit(2)
    ctx = Ctx(o.device)
    torch.manual_seed(0)
    dev_name = torch.cuda.get_device_name() if o.device == "cuda" else "cpu"
    say({"info": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
         "default_threads": default_threads, "device": dev_name, **blas_info(o.threads)})
    if o.serve:
        serve(ctx)
    elif o.case:
        warm, ms = best_ms(ctx, build(ctx, json.loads(o.case)))
        say({"warm_ms": warm, "ms": ms})
    else:
        ap.error("give a case or --serve")


if __name__ == "__main__":
    main()
