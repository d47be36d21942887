#!/usr/bin/python3
"""Fixtures for kadapter's PyTorch .bin reader, written by real torch.save.

Writes into OUT (tests/fixtures/torch_bin):
  dtypes.bin        zip format: f32, f16, bf16, i64, i32, f64, a scalar, an empty tensor
  views.bin         one storage shared by a tensor, its transpose, a strided slice with an
                    offset, and the same tensor under a second name (tied weights)
  state_dict.bin    an nn.Module state_dict (OrderedDict with _metadata)
  legacy.bin        the pre-1.6 format (_use_new_zipfile_serialization=False), as the released
                    K-Adapter checkpoints (torch 1.3.1) are; views included
  big_endian.bin    views.bin rewritten as a big-endian machine would (byteorder "big")
  forbidden.bin     a torch zip whose data.pkl references os.system (pickled, never called)
  forbidden_raw.bin the same pickle as a bare file; forbidden_p4.bin in protocol 4
  protocol4.bin     views.bin's state dict in pickle protocol 4
  expected.json     for each file: name -> {dtype, shape, values (C order)}
  tiny_roberta/{safetensors,bin}/  one tiny RobertaForMaskedLM as model.safetensors and as
                    pytorch_model.bin (tied decoder sharing the embeddings' storage, position_ids)
  tiny_roberta/bin_sharded/  the same model as save_pretrained(max_shard_size=...) writes it:
                    two pytorch_model-0000N-of-00002.bin shards and pytorch_model.bin.index.json
  released_fac/     a tiny fac adapter folder as the released fac-adapter.py saves one
                    (config.json, legacy pytorch_model.bin), its head with 5 relations
  released_fac_trex/  the same with the released code's 410 relations
  released_lin/     a tiny lin adapter folder as the released lin-adapter.py saves one
  released_adapter_only/  adapter tensors only (a state dict with the head dropped)
Debian's python3-torch suffices: /usr/bin/python3 tools/reference/torch_bin_fixtures.py --out DIR
"""
import argparse
import collections
import json
import os
import pickle
import zipfile

import torch

from roberta_ref import make_weights, save_safetensors

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.float64: "F64"}


def describe(sd):
    return {k: {"dtype": DTYPES[v.dtype], "shape": list(v.shape),
                "values": v.detach().double().reshape(-1).tolist()} for k, v in sd.items()}


class CallsSystem:
    """Pickles as a call of os.system; pickling it only writes the reference."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(7)
    expected = {}

    def save(name, sd, **kw):
        torch.save(sd, os.path.join(out, name), **kw)
        expected[name] = describe(sd)

    f32 = torch.randn(2, 3, generator=gen)
    save("dtypes.bin", {
        "f32": f32,
        "f16": torch.randn(3, 2, generator=gen).half(),
        "bf16": torch.randn(4, generator=gen).bfloat16(),
        "i64": torch.tensor([[0, -1, 2**40], [7, -(2**40), 3]], dtype=torch.int64),
        "i32": torch.tensor([5, -6, 2**31 - 1], dtype=torch.int32),
        "f64": torch.tensor([0.1, -2.5], dtype=torch.float64),
        "scalar": torch.tensor(1.5),
        "empty": torch.zeros(0, 3),
    })

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = collections.OrderedDict([
        ("w", base), ("tied", base), ("t", base.t()), ("s", base[1:, 1::2]),
        ("row", base[2]), ("col", base[:, 4]),
    ])
    save("views.bin", views)

    torch.manual_seed(3)
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    save("state_dict.bin", module.state_dict())
    save("legacy.bin", views, _use_new_zipfile_serialization=False)
    # Protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL), as pickle_protocol=4 writes.
    save("protocol4.bin", views, pickle_protocol=4)

    # A big-endian writer: every storage byte-swapped, byteorder "big".
    src = zipfile.ZipFile(os.path.join(out, "views.bin"))
    with zipfile.ZipFile(os.path.join(out, "big_endian.bin"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("big_endian/byteorder", "big")  # torch 1.13 writes no byteorder record
        for info in src.infolist():
            data = src.read(info)
            if "/data/" in info.filename:
                data = torch.frombuffer(bytearray(data), dtype=torch.int32) \
                    .numpy().byteswap().tobytes()
            z.writestr(info.filename.replace("views/", "big_endian/"), data)
    expected["big_endian.bin"] = expected["views.bin"]

    evil = pickle.dumps({"w": CallsSystem()}, protocol=2)
    with zipfile.ZipFile(os.path.join(out, "forbidden.bin"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("forbidden/data.pkl", evil)
        z.writestr("forbidden/version", "3\n")
    with open(os.path.join(out, "forbidden_raw.bin"), "wb") as f:
        f.write(evil)
    with open(os.path.join(out, "forbidden_p4.bin"), "wb") as f:
        f.write(pickle.dumps({"w": CallsSystem()}, protocol=4))

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    # A tiny masked-LM model, stored both ways.
    c = dict(vocab=24, hidden=8, layers=1, heads=2, ffn=16, max_pos=12, std=0.3)
    w = make_weights(c, torch.Generator().manual_seed(11))
    config = {
        "architectures": ["RobertaForMaskedLM"], "model_type": "roberta",
        "vocab_size": c["vocab"], "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"], "max_position_embeddings": c["max_pos"],
        "type_vocab_size": 1, "layer_norm_eps": 1e-5, "hidden_act": "gelu",
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
    }
    for kind in ("safetensors", "bin"):
        d = os.path.join(out, "tiny_roberta", kind)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    save_safetensors(os.path.join(out, "tiny_roberta", "safetensors", "model.safetensors"), w,
                     {"format": "pt"})
    sd = collections.OrderedDict(w)
    sd["roberta.embeddings.position_ids"] = torch.arange(c["max_pos"])[None, :]
    sd["lm_head.decoder.weight"] = sd["roberta.embeddings.word_embeddings.weight"]
    torch.save(sd, os.path.join(out, "tiny_roberta", "bin", "pytorch_model.bin"))
    # Sharded as transformers shards: the embeddings in the first file, the rest in the second.
    d = os.path.join(out, "tiny_roberta", "bin_sharded")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    shards = [collections.OrderedDict(), collections.OrderedDict()]
    for k, v in sd.items():
        shards[0 if ".embeddings." in k else 1][k] = v
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"pytorch_model-{i + 1:05d}-of-00002.bin"
        torch.save(shard, os.path.join(d, name))
        weight_map.update({k: name for k in shard})
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")

    # Adapters as fac-adapter.py and lin-adapter.py save them (torch 1.3.1: the legacy layout):
    # the encoder's config.json and the whole pretraining model's state dict, in its order.
    # 3 encoder layers give the released adapter_list rule 2 adapter layers; adapter_size 12
    # (12 heads), 1 inner layer. fac: 5 relations, and the released 410 T-REx relations;
    # lin: max_seq_length 6, its 1-head BertAttention sized to the tiny hidden size (the
    # released attentionConfig fixes hidden_size 1024, roberta-large's).
    def released(name, seed, head):
        H, A, F = 8, 12, 12
        g = torch.Generator().manual_seed(seed)
        sd = collections.OrderedDict()

        def linear(name, n_in, n_out):
            sd[name + ".weight"] = torch.randn(n_out, n_in, generator=g) * 0.3
            sd[name + ".bias"] = torch.randn(n_out, generator=g) * 0.1

        def norm(name, n):
            sd[name + ".weight"] = 1 + torch.randn(n, generator=g) * 0.1
            sd[name + ".bias"] = torch.randn(n, generator=g) * 0.1

        for i in range(2):
            p = f"adapter.{i}."
            linear(p + "down_project", H, A)
            q = p + "encoder.layer.0."
            for m in ("query", "key", "value"):
                linear(q + "attention.self." + m, A, A)
            linear(q + "attention.output.dense", A, A)
            norm(q + "attention.output.LayerNorm", A)
            linear(q + "intermediate.dense", A, F)
            linear(q + "output.dense", F, A)
            norm(q + "output.LayerNorm", A)
            linear(p + "up_project", A, H)
        head(H, linear, norm)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(dict(config, num_hidden_layers=3), f, indent=2)
            f.write("\n")
        torch.save(sd, os.path.join(d, "pytorch_model.bin"), _use_new_zipfile_serialization=False)

    def fac_head(n_rel):
        def head(H, linear, norm):
            linear("com_dense", 2 * H, H)
            linear("dense", 2 * H, H)
            linear("out_proj", H, n_rel)
        return head

    def lin_head(H, linear, norm):
        for m in ("query", "key", "value"):
            linear("self_attention.self." + m, H, H)
        linear("self_attention.output.dense", H, H)
        norm("self_attention.output.LayerNorm", H)
        linear("com_dense", 2 * H, H)
        linear("dense", H, H)
        linear("out_proj", H, 6)

    released("released_fac", 13, fac_head(5))
    released("released_fac_trex", 17, fac_head(410))
    released("released_lin", 19, lin_head)
    released("released_adapter_only", 29, lambda H, linear, norm: None)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
