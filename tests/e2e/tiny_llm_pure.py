"""tiny_llm_pure.py: a tiny random Llama (float32 safetensors, config.json) written with the standard
library alone, for tests that need a model to run but not a reference (tests/e2e/each_kind.sh):
python3-torch and numpy need not be installed.

  tiny_llm_pure.py DIR   writes DIR/config.json and DIR/model.safetensors
"""
import json
import math
import os
import random
import struct
import sys

CFG = dict(model_type="llama", vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, intermediate_size=48, max_position_embeddings=64, rms_norm_eps=1e-5,
           rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=True, rope_scaling=None)


def weights(cfg, rng):
    """name -> (shape, float list), the Hugging Face Llama state dict."""
    C, NH, NKV, I, V = (cfg[k] for k in ("hidden_size", "num_attention_heads", "num_key_value_heads",
                                          "intermediate_size", "vocab_size"))
    HD = C // NH
    w = {}
    def lin(name, out, inp):
        w[name + ".weight"] = ((out, inp), [rng.gauss(0, 1 / math.sqrt(inp)) for _ in range(out * inp)])
    def norm(name):
        w[name + ".weight"] = ((C,), [1 + 0.1 * rng.gauss(0, 1) for _ in range(C)])
    w["model.embed_tokens.weight"] = ((V, C), [0.5 * rng.gauss(0, 1) for _ in range(V * C)])
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        norm(p + "input_layernorm")
        norm(p + "post_attention_layernorm")
        for n, o in (("q_proj", NH * HD), ("k_proj", NKV * HD), ("v_proj", NKV * HD)):
            lin(p + "self_attn." + n, o, C)
        lin(p + "self_attn.o_proj", C, NH * HD)
        lin(p + "mlp.gate_proj", I, C)
        lin(p + "mlp.up_proj", I, C)
        lin(p + "mlp.down_proj", C, I)
    norm("model.norm")
    return w


def main(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
    w = weights(CFG, random.Random(7))
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(w):
        shape, vals = w[name]
        b = struct.pack(f"<{len(vals)}f", *vals)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


if __name__ == "__main__":
    main(sys.argv[1])
