#!/usr/bin/python3
"""PyTorch reference for kadapter's RoBERTa (masked LM), built from torch ops only.

Writes, for a tiny seeded model (or, with --realistic, a roberta-large-width one):
  OUT/model/config.json, OUT/model/model.safetensors   HF RobertaForMaskedLM layout, F32
  OUT/expected.safetensors   input_ids, attention_mask, labels, hidden_states.0..L, logits,
                             loss, grad.<name> for every weight (F32 values of f64 math)
The f64 math starts from the f32-rounded weights, i.e. exactly what the TS side loads.
No transformers/safetensors needed: Debian's python3-torch and python3-numpy suffice.
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import torch

PAD, BOS, EOS = 1, 0, 2
TINY = dict(vocab=400, hidden=32, layers=2, heads=4, ffn=128, max_pos=42,
            batch=3, seq=12, pads=[0, 3, 6], std=0.15)
# roberta-large width, a few layers, small vocabulary; HF's init std.
REALISTIC = dict(vocab=1000, hidden=1024, layers=3, heads=16, ffn=4096, max_pos=514,
                 batch=2, seq=96, pads=[0, 29], std=0.02)


def save_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: u64 LE header length, JSON header padded to 8, data."""
    dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64",
              torch.int32: "I32"}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def make_weights(c, gen):
    """Seeded f32 weights under RobertaForMaskedLM names (lm_head.decoder tied, not stored)."""
    H, F, std = c["hidden"], c["ffn"], c["std"]
    w = {}

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    def ln(name):  # random-ish gain and shift, so gamma/beta mix-ups show
        w[name + ".weight"] = 1 + randn(H, scale=0.1)
        w[name + ".bias"] = randn(H, scale=0.1)

    def dense(name, n_in, n_out):  # Linear weights are [out, in]
        w[name + ".weight"] = randn(n_out, n_in, scale=std)
        w[name + ".bias"] = randn(n_out, scale=0.05)

    e = "roberta.embeddings."
    w[e + "word_embeddings.weight"] = randn(c["vocab"], H, scale=std)
    w[e + "position_embeddings.weight"] = randn(c["max_pos"], H, scale=std)
    w[e + "token_type_embeddings.weight"] = randn(1, H, scale=std)
    ln(e + "LayerNorm")
    for i in range(c["layers"]):
        p = f"roberta.encoder.layer.{i}."
        for n in ("query", "key", "value"):
            dense(p + "attention.self." + n, H, H)
        dense(p + "attention.output.dense", H, H)
        ln(p + "attention.output.LayerNorm")
        dense(p + "intermediate.dense", H, F)
        dense(p + "output.dense", F, H)
        ln(p + "output.LayerNorm")
    dense("lm_head.dense", H, H)
    ln("lm_head.layer_norm")
    w["lm_head.bias"] = randn(c["vocab"], scale=0.05)
    return {k: v.float() for k, v in w.items()}


def make_inputs(c, gen):
    """ids <s> ... </s> then pads; labels at a few real positions, -100 elsewhere."""
    B, S = c["batch"], c["seq"]
    ids = torch.full((B, S), PAD, dtype=torch.int64)
    labels = torch.full((B, S), -100, dtype=torch.int64)
    for b, pad in enumerate(c["pads"]):
        n = S - pad
        ids[b, :n] = torch.randint(3, c["vocab"], (n,), generator=gen)
        ids[b, 0], ids[b, n - 1] = BOS, EOS
        k = max(2, n // 4)  # any real position, <s> and </s> included, may be labelled
        where = torch.randperm(n, generator=gen)[:k]
        labels[b, where] = torch.randint(0, c["vocab"], (k,), generator=gen)
    mask = (ids != PAD).long()
    return ids, mask, labels


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased, as torch.nn.LayerNorm
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu(x):  # exact (erf) GELU, HF's "gelu"
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def linear(x, w, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def bert_layer(w, p, x, add_mask, heads, eps):
    """One post-LN BERT layer under the names at prefix p, in eval mode."""
    b, s, h = x.shape
    d = h // heads

    def split(t):
        return t.view(b, s, heads, d).permute(0, 2, 1, 3)

    a = p + "attention."
    q, k, v = (split(linear(x, w, a + "self." + n)) for n in ("query", "key", "value"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d) + add_mask
    ctx = (torch.softmax(scores, -1) @ v).permute(0, 2, 1, 3).reshape(b, s, h)
    x = layer_norm(linear(ctx, w, a + "output.dense") + x,
                   w[a + "output.LayerNorm.weight"], w[a + "output.LayerNorm.bias"], eps)
    f = gelu(linear(x, w, p + "intermediate.dense"))
    return layer_norm(linear(f, w, p + "output.dense") + x,
                      w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)


def forward(w, c, ids, mask, eps):
    """RobertaForMaskedLM in eval mode: (hidden_states list, logits)."""
    nh = c["heads"]
    e = "roberta.embeddings."
    pos = torch.cumsum(mask, 1) * mask + PAD  # pads get position PAD
    x = (w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][pos]
         + w[e + "token_type_embeddings.weight"][torch.zeros_like(ids)])
    x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    hidden = [x]
    # HF: (1 - mask) * finfo(float32).min added to the scores of padded keys.
    add_mask = (1.0 - mask.to(x.dtype))[:, None, None, :] * torch.finfo(torch.float32).min
    for i in range(c["layers"]):
        x = bert_layer(w, f"roberta.encoder.layer.{i}.", x, add_mask, nh, eps)
        hidden.append(x)
    h = gelu(linear(x, w, "lm_head.dense"))
    h = layer_norm(h, w["lm_head.layer_norm.weight"], w["lm_head.layer_norm.bias"], eps)
    logits = h @ w[e + "word_embeddings.weight"].T + w["lm_head.bias"]  # tied decoder
    return hidden, logits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (gets model/ and expected)")
    ap.add_argument("--realistic", action="store_true",
                    help="hidden 1024, 16 heads, FFN 4096, 3 layers, batch 2 x seq 96")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    c = REALISTIC if args.realistic else TINY
    eps = 1e-5
    gen = torch.Generator().manual_seed(args.seed)
    w32 = make_weights(c, gen)
    ids, mask, labels = make_inputs(c, gen)

    # f64 math on the f32-rounded weights.
    w = {k: v.double().requires_grad_() for k, v in w32.items()}
    hidden, logits = forward(w, c, ids, mask, eps)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, c["vocab"]), labels.reshape(-1), ignore_index=-100)
    loss.backward()

    model_dir = os.path.join(args.out, "model")
    os.makedirs(model_dir, exist_ok=True)
    config = {
        "architectures": ["RobertaForMaskedLM"], "model_type": "roberta",
        "vocab_size": c["vocab"], "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"], "max_position_embeddings": c["max_pos"],
        "type_vocab_size": 1, "layer_norm_eps": eps, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": c["std"], "position_embedding_type": "absolute",
        "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS,
    }
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    # Real checkpoints carry this buffer; loaders must ignore it.
    stored = {"roberta.embeddings.position_ids": torch.arange(c["max_pos"])[None, :]}
    stored.update(w32)
    save_safetensors(os.path.join(model_dir, "model.safetensors"), stored, {"format": "pt"})

    out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    for i, h in enumerate(hidden):
        out[f"hidden_states.{i}"] = h.float()
    out["logits"] = logits.float()
    out["loss"] = loss.float()
    for k, v in w.items():
        out["grad." + k] = v.grad.float()
    save_safetensors(os.path.join(args.out, "expected.safetensors"), out,
                     {"loss_f64": repr(loss.item()), "seed": str(args.seed)})
    print(f"loss {loss.item():.10f}; wrote {model_dir} and expected.safetensors")


if __name__ == "__main__":
    main()
