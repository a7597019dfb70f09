"""tiny_llm.py: tiny random decoder-only models written as Hugging Face writes them (config.json,
model.safetensors or shards with model.safetensors.index.json, F32/F16/BF16), and a PyTorch
reference forward of each architecture re-implemented from transformers' modeling code
(modeling_llama, modeling_phi3, modeling_phi; transformers itself is not needed).

  tiny_llm.py make DIR    models under DIR/<name>/ and the reference outputs next to them
  tiny_llm.py check DIR   compare quench's outputs (written by llm_parity.sh) with the references
  tiny_llm.py quant-cases print the "model precision keep" cases llm_parity.sh runs quantized
  tiny_llm.py quant DIR   check those runs against the reference with quench's dequantized weights

Quantized precisions are checked against the same forward with the weights quench dequantizes
(`quench generate --dump-dequantized`, one NAME.npy per packed Linear, exactly the float32 values its
kernels multiply by): the packing itself is checked bit for bit elsewhere (test_kernels_infer_formats),
so here only the kernels and the model plumbing are under test, and fp16, bf16, w8a16, nf4 and fp4
must match like float32 (1e-4: the same products summed in another order). LLM.int8 also rounds the
activations to int8 per row, so it is bounded instead (see QUANT_INT8_* below).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

B, T, S = 3, 7, 5                       # prompts, prompt length, new tokens
PPL_N, PPL_CONTEXT, PPL_STRIDE = 45, 16, 6

MODELS = {
    # Llama 3 style: GQA, llama3 rope scaling with all three wavelength regimes, tied embeddings,
    # float32 in two shards with an index
    "llama": dict(dtype="F32", shards=2, cfg=dict(
        model_type="llama", vocab_size=97, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=96, max_position_embeddings=128, rms_norm_eps=1e-5,
        rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=True,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=16))),
    # bf16 weights, attention biases, untied head, no scaling; a Qwen-style sliding_window that Llama
    # never applies (transformers' LlamaModel has no sliding window)
    "llama_bf16": dict(dtype="BF16", shards=1, cfg=dict(
        model_type="llama", vocab_size=97, hidden_size=48, num_hidden_layers=2, num_attention_heads=6,
        num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64, rms_norm_eps=1e-6,
        rope_theta=500000.0, hidden_act="silu", tie_word_embeddings=False, attention_bias=True,
        rope_scaling=None, sliding_window=3, use_sliding_window=False)),
    # Phi-3: fused qkv_proj and gate_up_proj
    "phi3": dict(dtype="F32", shards=1, cfg=dict(
        model_type="phi3", vocab_size=101, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=80, max_position_embeddings=64, rms_norm_eps=1e-5,
        rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=False, rope_scaling=None)),
    # Phi-2: parallel attention and MLP, partial rotary (0.4 of a head of 20), LayerNorm, gelu_new, biases
    "phi2": dict(dtype="F32", shards=1, cfg=dict(
        model_type="phi", vocab_size=89, hidden_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=None, intermediate_size=128, max_position_embeddings=64, layer_norm_eps=1e-5,
        rope_theta=10000.0, partial_rotary_factor=0.4, hidden_act="gelu_new", qk_layernorm=False,
        tie_word_embeddings=False)),
    "phi2_fp16": dict(dtype="F16", shards=1, cfg=None),  # phi2's config, weights in float16
    # Phi-3 with a sliding window shorter than the prompts (7), the generation (7 + 5) and the
    # perplexity windows (16): keys q - 5 < k <= q
    "phi3_swa": dict(dtype="F32", shards=1, cfg=None),
}
MODELS["phi2_fp16"]["cfg"] = dict(MODELS["phi2"]["cfg"])
MODELS["phi3_swa"]["cfg"] = dict(MODELS["phi3"]["cfg"], sliding_window=5)
# Phi-3 longrope (the 128k models, Phi-3.5): short factors while a forward's sequence is within
# original_max_position_embeddings (9 here), long ones past it. The prompts (7) and the generation's
# first steps are short, generation crosses at 10 tokens (transformers' generate recomputes the cache
# there), the full recompute (11) is long, and the perplexity windows of 10 are long but the last (9).
# phi3_su: the older type name, partial rotary (12 of 16 dims), an explicit attention_factor, and a
# crossing at 9 tokens.
MODELS.update({
    "phi3_longrope": dict(dtype="F32", shards=1, ppl=(10, 4), cfg=dict(
        MODELS["phi3"]["cfg"], original_max_position_embeddings=9, rope_scaling=dict(
            type="longrope", short_factor=[1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.1, 3.8],
            long_factor=[1.0, 1.7, 2.9, 4.3, 7.1, 11.3, 18.7, 29.9]))),
    # Llama's linear rope scaling (some Llama 2 fine-tunes): positions / factor
    "llama_linear": dict(dtype="F32", shards=1, cfg=dict(
        MODELS["phi3"]["cfg"], model_type="llama", num_key_value_heads=4, rope_scaling=dict(type="linear", factor=4.0))),
    "phi3_su": dict(dtype="F32", shards=1, cfg=dict(
        MODELS["phi3"]["cfg"], max_position_embeddings=32, original_max_position_embeddings=8,
        partial_rotary_factor=0.75, rope_scaling=dict(
            type="su", short_factor=[1.05, 1.2, 1.45, 1.9, 2.6, 3.3],
            long_factor=[1.3, 2.1, 3.7, 6.1, 9.9, 15.2], attention_factor=1.3))),
})

# Left-padded batches (padding_side='left'): the prompts of ids.npy cut to these lengths, padded with
# PAD_ID, against each prompt run alone unpadded (tiny_llm.py check).
PADDED = ("llama", "phi3_swa", "phi2")
PAD_LENGTHS, PAD_ID = (7, 3, 1), 0


def dims(cfg):
    C, NH = cfg["hidden_size"], cfg["num_attention_heads"]
    NKV = cfg.get("num_key_value_heads") or NH
    HD = C // NH
    RD = int(HD * cfg.get("partial_rotary_factor", 1.0))
    return C, NH, NKV, HD, RD, cfg["intermediate_size"], cfg["vocab_size"]


def make_weights(cfg, gen):
    """Random weights by state-dict name (float32)."""
    C, NH, NKV, HD, RD, I, V = dims(cfg)
    w = {}
    def lin(name, out, inp, bias):
        w[name + ".weight"] = torch.randn(out, inp, generator=gen) * (1.0 / math.sqrt(inp))
        if bias:
            w[name + ".bias"] = torch.randn(out, generator=gen) * 0.1
    def normw(name, bias):
        w[name + ".weight"] = 1.0 + 0.1 * torch.randn(C, generator=gen)
        if bias:
            w[name + ".bias"] = 0.1 * torch.randn(C, generator=gen)
    w["model.embed_tokens.weight"] = torch.randn(V, C, generator=gen) * 0.5
    mt = cfg["model_type"]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        if mt == "phi":
            normw(p + "input_layernorm", True)
            for n, o in (("q_proj", NH * HD), ("k_proj", NKV * HD), ("v_proj", NKV * HD)):
                lin(p + "self_attn." + n, o, C, True)
            lin(p + "self_attn.dense", C, NH * HD, True)
            lin(p + "mlp.fc1", I, C, True)
            lin(p + "mlp.fc2", C, I, True)
            continue
        normw(p + "input_layernorm", False)
        normw(p + "post_attention_layernorm", False)
        ab = cfg.get("attention_bias", False)
        if mt == "phi3":
            lin(p + "self_attn.qkv_proj", (NH + 2 * NKV) * HD, C, False)
            lin(p + "mlp.gate_up_proj", 2 * I, C, False)
        else:
            for n, o in (("q_proj", NH * HD), ("k_proj", NKV * HD), ("v_proj", NKV * HD)):
                lin(p + "self_attn." + n, o, C, ab)
            lin(p + "mlp.gate_proj", I, C, False)
            lin(p + "mlp.up_proj", I, C, False)
        lin(p + "self_attn.o_proj", C, NH * HD, ab)
        lin(p + "mlp.down_proj", C, I, False)
    if mt == "phi":
        normw("model.final_layernorm", True)
        lin("lm_head", V, C, True)
    else:
        normw("model.norm", False)
        if not cfg.get("tie_word_embeddings"):
            lin("lm_head", V, C, False)
    return w


def stored(t, dtype):
    """(bytes as safetensors stores them, the float32 values a reader gets back)"""
    if dtype == "F32":
        return t.float().numpy().astype("<f4").tobytes(), t.float()
    if dtype == "F16":
        h = t.half()
        return h.numpy().astype("<f2").tobytes(), h.float()
    b = t.to(torch.bfloat16)
    return b.view(torch.int16).numpy().astype("<i2").tobytes(), b.float()


def write_safetensors(path, blobs):
    """blobs: name -> (dtype, shape, bytes). 8-byte little-endian header length, JSON header (padded
    with spaces to 8 bytes, as the reference writer does), the data."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(blobs):
        dt, shape, b = blobs[name]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name in sorted(blobs):
            f.write(blobs[name][2])


def save_model(d, cfg, w, dtype, shards):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    blobs, back = {}, {}
    for k, t in w.items():
        b, t32 = stored(t, dtype)
        blobs[k], back[k] = (dtype, tuple(t.shape), b), t32
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), blobs)
        return back
    names = sorted(blobs)
    # layer 0 and the embeddings in the first shard, the rest after, as HF splits by size
    first = [n for n in names if n.startswith("model.layers.0.") or n.startswith("model.embed")]
    parts = [first, [n for n in names if n not in first]]
    wmap = {}
    for i, part in enumerate(parts):
        fn = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
        write_safetensors(os.path.join(d, fn), {n: blobs[n] for n in part})
        wmap.update({n: fn for n in part})
    total = sum(len(b[2]) for b in blobs.values())
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=2)
    return back


# ---- the reference forward (full recompute, no cache), transformers' math in float32 ----

def inv_freq(cfg, RD, seq_len=None):
    """The inverse frequencies of a forward over seq_len tokens (max(position_ids) + 1)."""
    base = cfg.get("rope_theta", 10000.0)
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) in ("longrope", "su"):   # _compute_longrope_parameters
        orig = cfg.get("original_max_position_embeddings", 4096)              # Phi3Config's default
        long = seq_len is not None and seq_len > orig                         # _longrope_frequency_update
        ext = torch.tensor(rs["long_factor" if long else "short_factor"], dtype=torch.float32)
        return 1.0 / (ext * base ** (torch.arange(0, RD, 2, dtype=torch.int64).float() / RD))
    inv = 1.0 / (base ** (torch.arange(0, RD, 2, dtype=torch.int64).float() / RD))
    if rs and rs.get("rope_type", rs.get("type")) == "linear":   # _compute_linear_scaling_rope_parameters
        inv /= rs["factor"]
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":   # _compute_llama3_parameters
        factor, lf, hf = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / lf, old / hf
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - lf) / (hf - lf)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        is_medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        inv = torch.where(is_medium, smoothed, inv_l)
    return inv


def attention_factor(cfg):
    """What longrope scales cos and sin by: rope_scaling's attention_factor, else from the stretch."""
    rs = cfg.get("rope_scaling")
    if not rs or rs.get("rope_type", rs.get("type")) not in ("longrope", "su"):
        return 1.0
    if rs.get("attention_factor") is not None:
        return rs["attention_factor"]
    orig = cfg.get("original_max_position_embeddings", 4096)
    factor = cfg["max_position_embeddings"] / orig
    return 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin, RD):
    # partial rotary (Phi-2): only the first RD dims of each head turn
    xr, xp = x[..., :RD], x[..., RD:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


def forward(cfg, w, ids):
    """logits (B, T, V) of ids (B, T)."""
    C, NH, NKV, HD, RD, I, V = dims(cfg)
    mt = cfg["model_type"]
    Bn, Tn = ids.shape
    pos = torch.arange(Tn).float()
    freqs = pos[:, None] * inv_freq(cfg, RD, Tn)[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos() * attention_factor(cfg), emb.sin() * attention_factor(cfg)
    mask = torch.full((Tn, Tn), float("-inf")).triu(1)
    if mt == "phi3" and cfg.get("sliding_window"):
        # masking_utils.sliding_window_overlay: key k is visible to query q iff q - W < k (and k <= q)
        qi, ki = torch.arange(Tn)[:, None], torch.arange(Tn)[None, :]
        mask = mask.masked_fill(ki <= qi - cfg["sliding_window"], float("-inf"))

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y

    def rms(x, name):
        eps = cfg.get("rms_norm_eps", 1e-6)
        return w[name + ".weight"] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (C,), w[name + ".weight"], w[name + ".bias"], cfg["layer_norm_eps"])

    def attention(q, k, v):
        q = q.view(Bn, Tn, NH, HD).transpose(1, 2)
        k = k.view(Bn, Tn, NKV, HD).transpose(1, 2)
        v = v.view(Bn, Tn, NKV, HD).transpose(1, 2)
        q, k = apply_rope(q, cos, sin, RD), apply_rope(k, cos, sin, RD)
        rep = NH // NKV                                  # repeat_kv
        k = k[:, :, None].expand(Bn, NKV, rep, Tn, HD).reshape(Bn, NH, Tn, HD)
        v = v[:, :, None].expand(Bn, NKV, rep, Tn, HD).reshape(Bn, NH, Tn, HD)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HD) + mask, dim=-1, dtype=torch.float32)
        return (att @ v).transpose(1, 2).reshape(Bn, Tn, NH * HD)

    x = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        if mt == "phi":
            h = ln(x, p + "input_layernorm")
            a = lin(attention(lin(h, p + "self_attn.q_proj"), lin(h, p + "self_attn.k_proj"),
                              lin(h, p + "self_attn.v_proj")), p + "self_attn.dense")
            f = lin(h, p + "mlp.fc1")
            f = 0.5 * f * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (f + 0.044715 * torch.pow(f, 3.0))))
            x = a + lin(f, p + "mlp.fc2") + x
            continue
        h = rms(x, p + "input_layernorm")
        if mt == "phi3":
            qkv = lin(h, p + "self_attn.qkv_proj")
            q, k, v = qkv[..., :NH * HD], qkv[..., NH * HD:(NH + NKV) * HD], qkv[..., (NH + NKV) * HD:]
        else:
            q, k, v = (lin(h, p + "self_attn." + n) for n in ("q_proj", "k_proj", "v_proj"))
        x = x + lin(attention(q, k, v), p + "self_attn.o_proj")
        h = rms(x, p + "post_attention_layernorm")
        if mt == "phi3":
            gate, up = lin(h, p + "mlp.gate_up_proj").chunk(2, dim=-1)
        else:
            gate, up = lin(h, p + "mlp.gate_proj"), lin(h, p + "mlp.up_proj")
        x = x + lin(torch.nn.functional.silu(gate) * up, p + "mlp.down_proj")
    if mt == "phi":
        x = ln(x, "model.final_layernorm")
        return lin(x, "lm_head")
    x = rms(x, "model.norm")
    # a quantized tied head has its own (dequantized) weight
    head = "model.embed_tokens" if cfg.get("tie_word_embeddings") and "lm_head.weight" not in w else "lm_head"
    return x @ w[head + ".weight"].T


def greedy(cfg, w, ids, steps):
    """tokens (B, steps) and the logits each was chosen from (B, steps, V), recomputing everything
    (transformers' generate with its cache: for longrope too, as Phi-3's generate recomputes the
    cache the step the sequence first passes original_max_position_embeddings)."""
    toks, logits = [], []
    for _ in range(steps):
        z = forward(cfg, w, ids)[:, -1]
        t = z.argmax(-1)
        toks.append(t), logits.append(z)
        ids = torch.cat((ids, t[:, None]), dim=1)
    return torch.stack(toks, 1), torch.stack(logits, 1)


def perplexity(cfg, w, tokens, context, stride):
    """Hugging Face's perplexity guide: labels -100 on each window's overlap, NLL weighted by tokens."""
    n = tokens.shape[0]
    nll, count, prev_end = 0.0, 0, 0
    for begin in range(0, n, stride):
        end = min(begin + context, n)
        trg = end - prev_end
        inp = tokens[begin:end][None]
        labels = inp.clone()
        labels[:, :-trg] = -100
        z = forward(cfg, w, inp)[0, :-1].double()
        lab = labels[0, 1:]
        keep = lab != -100
        lp = torch.log_softmax(z, -1)[torch.arange(z.shape[0]), lab.clamp(min=0)]
        nll += float(-(lp[keep]).sum())
        count += int(keep.sum())
        prev_end = end
        if end == n:
            break
    return math.exp(nll / count), count


def make(root):
    torch.manual_seed(0)
    for name, spec in MODELS.items():
        cfg, d = spec["cfg"], os.path.join(root, name)
        gen = torch.Generator().manual_seed(sum(map(ord, name)))
        w = save_model(d, cfg, make_weights(cfg, gen), spec["dtype"], spec["shards"])
        torch.save(w, os.path.join(d, "ref_weights.pt"))  # float32 as read back, for `quant`
        V = cfg["vocab_size"]
        ids = torch.randint(0, V, (B, T), generator=gen)
        np.save(os.path.join(d, "ids.npy"), ids.numpy().astype(np.int64))
        with torch.no_grad():
            np.save(os.path.join(d, "ref_logits.npy"), forward(cfg, w, ids).numpy())
            toks, steps = greedy(cfg, w, ids, S)
            np.save(os.path.join(d, "ref_tokens.npy"), toks.numpy())
            np.save(os.path.join(d, "ref_step_logits.npy"), steps.numpy())
            # prompt + all but the last generated token: its prefill logits are the decode steps'
            full = torch.cat((ids, toks[:, :-1]), 1)
            np.save(os.path.join(d, "ids_full.npy"), full.numpy().astype(np.int32))
            np.save(os.path.join(d, "ref_full_logits.npy"), forward(cfg, w, full).numpy())
            ptoks = torch.randint(0, V, (PPL_N,), generator=gen)
            np.save(os.path.join(d, "ppl_tokens.npy"), ptoks.numpy().astype(np.int32))
            context, stride = spec.get("ppl", (PPL_CONTEXT, PPL_STRIDE))
            ppl, count = perplexity(cfg, w, ptoks, context, stride)
        with open(os.path.join(d, "ref_ppl.txt"), "w") as f:
            f.write(f"{ppl!r} {count}\n")
        with open(os.path.join(d, "ppl_args"), "w") as f:  # llm_parity.sh's --perplexity options
            f.write(f"--context {context} --stride {stride}\n")
        if name in PADDED:
            make_padded(d, cfg, w, ids)


def make_padded(d, cfg, w, ids):
    """pad_ids.npy and pad_mask.npy (left padding), and the references: each prompt alone, unpadded."""
    V = cfg["vocab_size"]
    pids = torch.full((B, T), PAD_ID, dtype=torch.int64)
    mask = torch.zeros((B, T), dtype=torch.int64)
    ref = np.full((B, T, V), np.nan, dtype=np.float32)
    toks, steps = [], []
    with torch.no_grad():
        for b, n in enumerate(PAD_LENGTHS):
            pids[b, T - n:], mask[b, T - n:] = ids[b, :n], 1
            ref[b, T - n:] = forward(cfg, w, ids[b:b + 1, :n])[0].numpy()
            t, z = greedy(cfg, w, ids[b:b + 1, :n], S)
            toks.append(t[0]), steps.append(z[0])
    np.save(os.path.join(d, "pad_ids.npy"), pids.numpy())
    # as tokenizers return it: int64; the bool form goes through the CUDA-less path too (llm_parity.sh)
    np.save(os.path.join(d, "pad_mask.npy"), mask.numpy())
    np.save(os.path.join(d, "pad_mask_bool.npy"), mask.numpy().astype(bool))
    np.save(os.path.join(d, "ref_pad_logits.npy"), ref)
    np.save(os.path.join(d, "ref_pad_tokens.npy"), torch.stack(toks).numpy())
    np.save(os.path.join(d, "ref_pad_step_logits.npy"), torch.stack(steps).numpy())


def check_padded(d, name):
    """The left-padded batch against each prompt alone: real positions' logits, steps, tokens."""
    ref, out = np.load(f"{d}/ref_pad_logits.npy"), np.load(f"{d}/out_pad_logits.npy")
    assert out.shape == ref.shape, (name, out.shape, ref.shape)
    real = ~np.isnan(ref)
    err = float(np.abs(out[real] - ref[real]).max())
    assert err < 1e-4, f"{name}: padded prefill logits: max |quench - torch alone| = {err}"
    sref, sout = np.load(f"{d}/ref_pad_step_logits.npy"), np.load(f"{d}/out_pad_step_logits.npy")
    assert sout.shape == sref.shape, (name, sout.shape, sref.shape)
    serr = float(np.abs(sout - sref).max())
    assert serr < 1e-4, f"{name}: padded decode-step logits: max |quench - torch alone| = {serr}"
    for f in ("out_pad_tokens.txt", "out_pad_tokens_bool.txt"):
        toks = np.loadtxt(f"{d}/{f}", dtype=np.int64, ndmin=2)
        rtoks = np.load(f"{d}/ref_pad_tokens.npy")
        assert (toks == rtoks).all(), f"{name}: padded greedy tokens ({f}) differ:\n{toks}\n{rtoks}"
    print(f"{name} left-padded (lengths {PAD_LENGTHS}): logits {err:.1e}, decode {serr:.1e}")
    return max(err, serr)


def check(root):
    worst = 0.0
    for name in MODELS:
        d, cfg = os.path.join(root, name), MODELS[name]["cfg"]
        ref, out = np.load(f"{d}/ref_logits.npy"), np.load(f"{d}/out_logits.npy")
        assert out.shape == ref.shape, (name, out.shape, ref.shape)
        err = float(np.abs(out - ref).max())
        assert err < 1e-4, f"{name}: prefill logits: max |quench - torch| = {err}"
        sref, sout = np.load(f"{d}/ref_step_logits.npy"), np.load(f"{d}/out_step_logits.npy")
        assert sout.shape == sref.shape, (name, sout.shape, sref.shape)
        serr = float(np.abs(sout - sref).max())
        assert serr < 1e-4, f"{name}: decode-step logits: max |quench - torch| = {serr}"
        toks = np.loadtxt(f"{d}/out_tokens.txt", dtype=np.int64, ndmin=2)
        rtoks = np.load(f"{d}/ref_tokens.npy")
        assert (toks == rtoks).all(), f"{name}: greedy tokens differ:\n{toks}\n{rtoks}"
        full = np.load(f"{d}/out_full_logits.npy")
        ferr = float(np.abs(full - np.load(f"{d}/ref_full_logits.npy")).max())
        assert ferr < 1e-4, f"{name}: prefill logits of prompt + generation: max |quench - torch| = {ferr}"
        # the KV cache against quench's own full recompute: decode steps 1.. are prefill positions T..
        # (longrope: only the steps past original_max_position_embeddings, where both turn with the
        # long factors; before it the steps are short, the full recompute long)
        first = 0
        if cfg.get("rope_scaling") and cfg["rope_scaling"].get("type") in ("longrope", "su"):
            first = max(0, cfg.get("original_max_position_embeddings", 4096) + 1 - T)
        # (relative to the logits' scale: decode's GEMV and prefill's GEMM sum in different orders)
        kv = float(np.abs(full[:, T - 1 + first:] - sout[:, first:]).max()) / max(1.0, float(np.abs(sout).max()))
        assert kv < 2e-6, f"{name}: decode with the KV cache vs full recompute: {kv} (relative)"
        rppl, count = open(f"{d}/ref_ppl.txt").read().split()
        line = open(f"{d}/out_ppl.txt").read().split()
        ppl, qcount = float(line[1]), int(line[3])
        assert qcount == int(count), f"{name}: perplexity scored {qcount} tokens, torch {count}"
        assert abs(ppl / float(rppl) - 1) < 1e-5, f"{name}: perplexity {ppl} vs torch {rppl}"
        print(f"{name}: logits {err:.1e}, decode {serr:.1e}, kv {kv:.1e}, ppl {ppl:.4f} (torch {float(rppl):.4f})")
        worst = max(worst, err, serr, ferr)
        if name in PADDED:
            worst = max(worst, check_padded(d, name))
    print(f"worst |quench - torch| = {worst:.2e}")


# (model, precision, keep): keep "none" quantizes lm_head too (a tied one on llama), "" keeps lm_head.
# llama_bf16's rows of 48 make the 4-bit blocks of 64 straddle rows (the portable path); phi2 has biases.
QUANT_CASES = [
    ("llama", "fp16", "none"), ("llama", "bf16", "none"), ("llama", "w8a16", "none"), ("llama", "nf4", "none"),
    ("llama", "fp4:double_quant=1", "none"), ("llama", "int8", "none"),
    ("llama_bf16", "nf4", ""), ("llama_bf16", "w8a16", ""),
    ("phi3", "w8a16", ""), ("phi3", "nf4:double_quant=1,block_size=32", ""), ("phi3", "int8", ""),
    ("phi2", "fp4", "none"), ("phi2", "int8:threshold=1", "none"), ("phi2", "bf16", ""),
]
# LLM.int8: the activations of every Linear are rounded to int8 per row (absmax / 254 at most), an
# error of the same kind and size as w8a16's weight rounding. Against the reference with the same
# dequantized weights, the mean |logit error| / mean |logit| measures that activation rounding alone:
# about 1-2% on these models (two layers of 64-80 features); against float32 it adds w8a16's weight
# error. The bounds leave 2-3x room; dropping the outlier columns alone gives 14% on llama.
QUANT_INT8_VS_DEQUANT, QUANT_INT8_VS_FP32 = 0.05, 0.08


def case_dir(d, prec):
    return os.path.join(d, "q-" + prec.replace(":", "_").replace(",", "_").replace("=", ""))


def quant_cases(_):
    for m, p, k in QUANT_CASES:
        print(m, p, k or "-")


def quant(root):
    for name, prec, keep in QUANT_CASES:
        d = os.path.join(root, name)
        q = case_dir(d, prec)
        cfg = MODELS[name]["cfg"]
        w = torch.load(os.path.join(d, "ref_weights.pt"))
        deq = [f for f in os.listdir(os.path.join(q, "deq")) if f.endswith(".npy")]
        nlin = sum(1 for k in w if k.endswith(".weight") and w[k].dim() == 2 and "embed" not in k)
        if cfg.get("tie_word_embeddings"):
            nlin += 1
        want = nlin if keep == "none" else nlin - 1
        assert len(deq) == want, f"{name} {prec}: {len(deq)} dequantized Linears, want {want}"
        for f in deq:
            t = torch.from_numpy(np.load(os.path.join(q, "deq", f)))
            key = f[:-4] + ".weight"
            ref_shape = w[key].shape if key in w else w["model.embed_tokens.weight"].shape
            assert t.shape == ref_shape, (name, prec, f, t.shape, ref_shape)
            w[key] = t
        ids = torch.from_numpy(np.load(os.path.join(d, "ids.npy")))
        out = np.load(os.path.join(q, "logits.npy"))
        with torch.no_grad():
            ref = forward(cfg, w, ids).numpy()
            if prec.startswith("int8"):
                fp32 = np.load(os.path.join(d, "ref_logits.npy"))
                e_deq = float(np.abs(out - ref).mean() / np.abs(ref).mean())
                e_32 = float(np.abs(out - fp32).mean() / np.abs(fp32).mean())
                assert e_deq < QUANT_INT8_VS_DEQUANT, f"{name} {prec}: mean relative logit error {e_deq} vs dequantized"
                assert e_32 < QUANT_INT8_VS_FP32, f"{name} {prec}: mean relative logit error {e_32} vs float32"
                print(f"{name} {prec}: mean relative logit error {e_deq:.2e} vs dequantized, {e_32:.2e} vs float32")
                continue
            err = float(np.abs(out - ref).max())
            assert err < 1e-4, f"{name} {prec}: prefill logits: max |quench - torch(dequantized)| = {err}"
            toks, steps = greedy(cfg, w, ids, S)
            sout = np.load(os.path.join(q, "step_logits.npy"))
            serr = float(np.abs(sout - steps.numpy()).max())
            assert serr < 1e-4, f"{name} {prec}: decode-step logits: max |quench - torch(dequantized)| = {serr}"
            qt = np.loadtxt(os.path.join(q, "tokens.txt"), dtype=np.int64, ndmin=2)
            assert (qt == toks.numpy()).all(), f"{name} {prec}: greedy tokens differ:\n{qt}\n{toks.numpy()}"
            e_32 = float(np.abs(out - np.load(os.path.join(d, "ref_logits.npy"))).max())
            print(f"{name} {prec}: logits {err:.1e}, decode {serr:.1e} vs dequantized ({e_32:.1e} vs float32)")


if __name__ == "__main__":
    {"make": make, "check": check, "quant-cases": quant_cases, "quant": quant}[sys.argv[1]](
        sys.argv[2] if len(sys.argv) > 2 else None)
