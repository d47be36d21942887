#!/usr/bin/python3
"""The released K-Adapter forward (fac-adapter.py, lin-adapter.py) on the committed fixtures.

Reads DIR/released_fac_trex and DIR/released_lin (written by torch_bin_fixtures.py, as the
released save_pretrained writes them) and writes:
  DIR/released_encoder/config.json, model.safetensors
        a seeded 3-layer RoBERTa of those folders' config.json (vocab 24, hidden 8)
  DIR/released_expected.safetensors
        input_ids, attention_mask [B, S] (I64; S = max_seq_length 6, as the released
        loaders pad every example), subj, obj [B] (I64, marker positions), fac_logits
        [B, 410], lin_logits [B, S, 6]: eval mode, float64 math on the F32 weights.
The forward is the released code's, written out in torch ops: pytorch_transformers 1.x
RobertaModel (positions arange(pad + 1, pad + 1 + S) at every slot, padding included; -10000
on padded keys; erf GELU), each Adapter (down_project, BertEncoder under an all-ones mask,
up_project, residual) fed hidden_states[adapter_list[i]] + the previous adapter's output
(adapter_skip_layers 0), then the pretraining head. adapter_list [0, 1]: the released rule
0, L/2 - 1, L - 2 (0,11,22 for roberta-large) for L = 3, duplicates dropped.
Debian's python3-torch suffices: /usr/bin/python3 tools/reference/released_ref.py --dir DIR
"""
import argparse
import json
import math
import os

import torch

from roberta_ref import (PAD, BOS, EOS, bert_layer, layer_norm, linear, make_weights,
                         save_safetensors)

ADAPTER_LIST = [0, 1]
B, S = 3, 6
PADS = [1, 2, 4]  # every row padded: kadapter's batch (longest row 5) is shorter than S


def encoder(w, c, ids, mask):
    """pytorch_transformers 1.x RobertaModel: (sequence_output, hidden_states)."""
    e = "roberta.embeddings."
    eps = c["layer_norm_eps"]
    pos = torch.arange(PAD + 1, PAD + 1 + ids.shape[1]).unsqueeze(0).expand_as(ids)
    x = (w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][pos]
         + w[e + "token_type_embeddings.weight"][torch.zeros_like(ids)])
    x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    hidden = [x]
    add_mask = (1.0 - mask.double())[:, None, None, :] * -10000.0
    for i in range(c["num_hidden_layers"]):
        x = bert_layer(w, f"roberta.encoder.layer.{i}.", x, add_mask,
                       c["num_attention_heads"], eps)
        hidden.append(x)
    return x, hidden


def adapters(w, hidden):
    """AdapterModel.forward up to the head: the last adapter's output."""
    last = torch.zeros_like(hidden[0])
    n = len(ADAPTER_LIST)
    for i in range(n):
        p = f"adapter.{i}."
        x = hidden[ADAPTER_LIST[i]] + last
        down = linear(x, w, p + "down_project")
        inner = 0
        while f"{p}encoder.layer.{inner}.attention.self.query.weight" in w:
            inner += 1
        h = down
        for j in range(inner):  # the released Adapter's mask: all ones, so 0 added
            h = bert_layer(w, f"{p}encoder.layer.{j}.", h, 0.0, 12, 1e-5)
        last = x + linear(h, w, p + "up_project")
    return last


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True, help="tests/fixtures/torch_bin")
    root = ap.parse_args().dir
    with open(os.path.join(root, "released_fac_trex", "config.json")) as f:
        c = json.load(f)
    gen = torch.Generator().manual_seed(23)
    shape = dict(hidden=c["hidden_size"], ffn=c["intermediate_size"], std=0.3,
                 vocab=c["vocab_size"], max_pos=c["max_position_embeddings"],
                 layers=c["num_hidden_layers"])
    enc_w = make_weights(shape, gen)
    d = os.path.join(root, "released_encoder")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
    save_safetensors(os.path.join(d, "model.safetensors"), enc_w, {"format": "pt"})

    ids = torch.full((B, S), PAD, dtype=torch.int64)
    for b, pad in enumerate(PADS):
        n = S - pad
        ids[b, :n] = torch.randint(3, c["vocab_size"], (n,), generator=gen)
        ids[b, 0], ids[b, n - 1] = BOS, EOS
    mask = (ids != PAD).long()
    subj, obj = torch.tensor([1, 3, 1]), torch.tensor([3, 1, 0])

    w64 = {k: v.double() for k, v in enc_w.items()}
    seq, hidden = encoder(w64, c, ids, mask)

    def load(name):
        sd = torch.load(os.path.join(root, name, "pytorch_model.bin"))
        return {k: v.double() for k, v in sd.items()}

    fac = load("released_fac_trex")
    com = linear(torch.cat([seq, adapters(fac, hidden)], 2), fac, "com_dense")
    rows = torch.arange(B)
    pair = torch.cat([com[rows, subj], com[rows, obj]], 1)
    fac_logits = linear(linear(pair, fac, "dense"), fac, "out_proj")

    lin = load("released_lin")
    com = linear(torch.cat([seq, adapters(lin, hidden)], 2), lin, "com_dense")
    add_mask = (1.0 - mask.double())[:, None, None, :] * -10000.0
    # BertAttention (1 head): self-attention, then output.dense, residual, LayerNorm.
    q, k, v = (linear(com, lin, "self_attention.self." + n) for n in ("query", "key", "value"))
    h = com.shape[-1]
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(h) + add_mask[:, 0], -1)
    att = layer_norm(linear(probs @ v, lin, "self_attention.output.dense") + com,
                     lin["self_attention.output.LayerNorm.weight"],
                     lin["self_attention.output.LayerNorm.bias"], 1e-5)
    lin_logits = linear(linear(att, lin, "dense"), lin, "out_proj")

    save_safetensors(os.path.join(root, "released_expected.safetensors"), {
        "input_ids": ids, "attention_mask": mask, "subj": subj, "obj": obj,
        "fac_logits": fac_logits.float(), "lin_logits": lin_logits.float(),
    }, {"format": "pt"})
    print(f"wrote {d} and released_expected.safetensors")


if __name__ == "__main__":
    main()
