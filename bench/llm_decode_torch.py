#!/usr/bin/python3
"""llm_decode_torch.py: the reference of `quench bench decode`.

Greedy decode with a KV cache of a Hugging Face decoder-only directory (Llama, Phi-3, Phi-2) in
pure PyTorch, float32 (transformers is not needed): the prompts are prefilled in one forward, then
each step feeds the B chosen tokens, appends their keys and values to the cache and takes the
argmax of the last logits. The math pieces (dimensions, RoPE frequencies with llama3 scaling,
rotate_half, partial rotary) are tests/e2e/tiny_llm.py's, the reference quench's logits are checked
against, imported rather than copied. Prints one JSON object on stdout:

  {"tokens_per_s": X, "ms_per_token": M, "tokens": [[...], ...], "threads": N, "torch": "1.13.0"}

tokens_per_s is B / the median step (a step: forward of B tokens, logits, argmax); tokens (B, S+1)
are the prefill's choice and then one per step, for quench to compare with its own.

Usage: llm_decode_torch.py --model DIR --ids FILE --batch B --prompt-len T --new-tokens S --threads N
"""
import argparse
import json
import math
import mmap
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import tiny_llm  # noqa: E402  (dims, inv_freq, apply_rope: the parity test's reference math)


def read_safetensors(path):
    """name -> float32 tensor, for F32, F16 and BF16 tensors."""
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = np.frombuffer(data, dtype=np.uint8, count=b - a, offset=8 + hlen + a)
        if t["dtype"] == "F32":
            x = torch.from_numpy(raw.view("<f4").copy())
        elif t["dtype"] == "F16":
            x = torch.from_numpy(raw.view("<f2").astype(np.float32))
        elif t["dtype"] == "BF16":
            x = (torch.from_numpy(raw.view("<u2").astype(np.int32)) << 16).view(torch.float32)
        else:
            raise SystemExit(f"{path}: {name} is {t['dtype']}")
        out[name] = x.reshape(t["shape"])
    return out


def load(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        w = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            w.update(read_safetensors(os.path.join(d, shard)))
    else:
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    return cfg, w


class Decoder:
    """transformers' forward (as tiny_llm.forward) over a KV cache: keys rotated at their position."""

    def __init__(self, cfg, w, B, Tmax):
        self.cfg, self.w = cfg, w
        C, NH, NKV, HD, RD, I, V = tiny_llm.dims(cfg)
        self.NH, self.NKV, self.HD, self.RD = NH, NKV, HD, RD
        self.inv = tiny_llm.inv_freq(cfg, RD)
        L = cfg["num_hidden_layers"]
        self.k = torch.zeros(L, B, NKV, Tmax, HD)
        self.v = torch.zeros(L, B, NKV, Tmax, HD)
        self.pos = 0
        mt = cfg["model_type"]
        self.head = "model.embed_tokens" if mt != "phi" and cfg.get("tie_word_embeddings") else "lm_head"

    def lin(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    def rms(self, x, name):
        eps = self.cfg.get("rms_norm_eps", 1e-6)
        return self.w[name + ".weight"] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], self.cfg["layer_norm_eps"])

    def attention(self, l, q, k, v):
        B, n = q.shape[:2]
        NH, NKV, HD, p0 = self.NH, self.NKV, self.HD, self.pos
        freqs = torch.arange(p0, p0 + n).float()[:, None] * self.inv[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        q = tiny_llm.apply_rope(q.view(B, n, NH, HD).transpose(1, 2), cos, sin, self.RD)
        k = tiny_llm.apply_rope(k.view(B, n, NKV, HD).transpose(1, 2), cos, sin, self.RD)
        self.k[l, :, :, p0:p0 + n] = k
        self.v[l, :, :, p0:p0 + n] = v.view(B, n, NKV, HD).transpose(1, 2)
        T = p0 + n
        rep = NH // NKV
        # grouped-query attention without repeat_kv's copy: the query heads of a group share K, V
        qg = q.reshape(B, NKV, rep * n, HD)
        s = qg @ self.k[l, :, :, :T].transpose(-1, -2) / math.sqrt(HD)  # (B, NKV, rep*n, T)
        if n > 1:
            mask = torch.full((n, T), float("-inf")).triu(p0 + 1)
            s = s + mask.repeat(rep, 1)
        o = torch.softmax(s, dim=-1) @ self.v[l, :, :, :T]  # (B, NKV, rep*n, HD)
        return o.view(B, NH, n, HD).transpose(1, 2).reshape(B, n, NH * HD)

    def forward(self, ids):
        """logits (B, V) of the last of the tokens ids (B, n), which the cache then holds."""
        cfg, w, mt = self.cfg, self.w, self.cfg["model_type"]
        NH, NKV, HD = self.NH, self.NKV, self.HD
        x = w["model.embed_tokens.weight"][ids]
        for l in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            if mt == "phi":
                h = self.ln(x, p + "input_layernorm")
                a = self.lin(self.attention(l, self.lin(h, p + "self_attn.q_proj"), self.lin(h, p + "self_attn.k_proj"),
                                            self.lin(h, p + "self_attn.v_proj")), p + "self_attn.dense")
                f = self.lin(h, p + "mlp.fc1")
                f = 0.5 * f * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (f + 0.044715 * torch.pow(f, 3.0))))
                x = a + self.lin(f, p + "mlp.fc2") + x
                continue
            h = self.rms(x, p + "input_layernorm")
            if mt == "phi3":
                qkv = self.lin(h, p + "self_attn.qkv_proj")
                q, k, v = qkv[..., :NH * HD], qkv[..., NH * HD:(NH + NKV) * HD], qkv[..., (NH + NKV) * HD:]
            else:
                q, k, v = (self.lin(h, p + "self_attn." + n) for n in ("q_proj", "k_proj", "v_proj"))
            x = x + self.lin(self.attention(l, q, k, v), p + "self_attn.o_proj")
            h = self.rms(x, p + "post_attention_layernorm")
            if mt == "phi3":
                gate, up = self.lin(h, p + "mlp.gate_up_proj").chunk(2, dim=-1)
            else:
                gate, up = self.lin(h, p + "mlp.gate_proj"), self.lin(h, p + "mlp.up_proj")
            x = x + self.lin(F.silu(gate) * up, p + "mlp.down_proj")
        self.pos += ids.shape[1]
        x = x[:, -1]
        if mt == "phi":
            return self.lin(self.ln(x, "model.final_layernorm"), "lm_head")
        return self.lin(self.rms(x, "model.norm"), self.head)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    for name in ("batch", "prompt-len", "new-tokens", "threads"):
        ap.add_argument("--" + name, type=int, required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg, w = load(a.model)
    ids = torch.from_numpy(np.loadtxt(a.ids, dtype=np.int64, ndmin=2))
    assert ids.shape == (a.batch, a.prompt_len), (ids.shape, a.batch, a.prompt_len)
    S = a.new_tokens
    dec = Decoder(cfg, w, a.batch, a.prompt_len + S)
    times, tokens = [], []
    with torch.inference_mode():
        tok = dec.forward(ids).argmax(-1)
        tokens.append(tok)
        for _ in range(S):
            t0 = time.perf_counter()
            tok = dec.forward(tok[:, None]).argmax(-1)
            times.append(time.perf_counter() - t0)
            tokens.append(tok)
    step = statistics.median(times)
    json.dump({"tokens_per_s": a.batch / step, "ms_per_token": step * 1e3,
               "tokens": torch.stack(tokens, 1).tolist(), "threads": torch.get_num_threads(),
               "torch": torch.__version__.split("+")[0]}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
