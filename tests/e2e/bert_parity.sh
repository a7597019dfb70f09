# quench eval against PyTorch: a small random BERT classifier written as Hugging Face writes it
# (config.json, model.safetensors with BertForSequenceClassification names), its logits computed by
# a PyTorch re-implementation of the same math, and quench's logits on the same padded inputs.
# Skipped (exit 77) where python3-torch is not installed.
source "$(dirname "$0")/lib.sh"

"$PYTHON" -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed"; exit 77; }

"$PYTHON" - "$WORK" <<'PY'
import json, math, struct, sys
import numpy as np, torch
w = sys.argv[1]
torch.manual_seed(0)
V, P, C, L, NH, I, NL = 50, 40, 32, 2, 4, 64, 3
cfg = {"model_type": "bert", "vocab_size": V, "max_position_embeddings": P, "type_vocab_size": 2, "hidden_size": C,
       "num_hidden_layers": L, "num_attention_heads": NH, "intermediate_size": I, "hidden_act": "gelu",
       "layer_norm_eps": 1e-12, "id2label": {str(i): f"L{i}" for i in range(NL)}}
json.dump(cfg, open(f"{w}/config.json", "w"))
def r(*shape, s=0.5): return (torch.randn(*shape) * s).float()
sd = {"bert.embeddings.word_embeddings.weight": r(V, C), "bert.embeddings.position_embeddings.weight": r(P, C),
      "bert.embeddings.token_type_embeddings.weight": r(2, C),
      "bert.embeddings.LayerNorm.weight": 1 + r(C, s=0.1), "bert.embeddings.LayerNorm.bias": r(C, s=0.1)}
for l in range(L):
    p = f"bert.encoder.layer.{l}."
    for n, (o, i) in {"attention.self.query": (C, C), "attention.self.key": (C, C), "attention.self.value": (C, C),
                      "attention.output.dense": (C, C), "intermediate.dense": (I, C), "output.dense": (C, I)}.items():
        sd[p + n + ".weight"], sd[p + n + ".bias"] = r(o, i, s=1 / math.sqrt(i)), r(o, s=0.1)
    for n in ["attention.output.LayerNorm", "output.LayerNorm"]:
        sd[p + n + ".weight"], sd[p + n + ".bias"] = 1 + r(C, s=0.1), r(C, s=0.1)
sd["bert.pooler.dense.weight"], sd["bert.pooler.dense.bias"] = r(C, C, s=1 / math.sqrt(C)), r(C, s=0.1)
sd["classifier.weight"], sd["classifier.bias"] = r(NL, C, s=1 / math.sqrt(C)), r(NL, s=0.1)
header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
for k, t in sd.items():
    b = t.numpy().astype(np.float32).tobytes()
    header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    off += len(b); blobs.append(b)
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
open(f"{w}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

N, T = 7, 12
ids = torch.randint(1, V, (N, T))
lens = torch.tensor([12, 5, 9, 1, 12, 3, 7])
mask = (torch.arange(T)[None, :] < lens[:, None]).long()
ids = ids * mask                                  # padding positions hold [PAD] = 0
np.save(f"{w}/ids.npy", ids.numpy().astype(np.int64)); np.save(f"{w}/mask.npy", mask.numpy().astype(np.int32))

def ln(x, p): return torch.nn.functional.layer_norm(x, (C,), sd[p + ".weight"], sd[p + ".bias"], 1e-12)
def lin(x, p): return x @ sd[p + ".weight"].T + sd[p + ".bias"]
x = sd["bert.embeddings.word_embeddings.weight"][ids] + sd["bert.embeddings.token_type_embeddings.weight"][0]
x = ln(x + sd["bert.embeddings.position_embeddings.weight"][:T], "bert.embeddings.LayerNorm")
ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
HS = C // NH
for l in range(L):
    p = f"bert.encoder.layer.{l}."
    q, k, v = (lin(x, p + "attention.self." + n).view(N, T, NH, HS).transpose(1, 2) for n in ("query", "key", "value"))
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + ext, dim=-1)
    ctx = (att @ v).transpose(1, 2).reshape(N, T, C)
    h = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
    x = ln(lin(torch.nn.functional.gelu(lin(h, p + "intermediate.dense")), p + "output.dense") + h, p + "output.LayerNorm")
logits = lin(torch.tanh(lin(x[:, 0], "bert.pooler.dense")), "classifier")
np.save(f"{w}/ref.npy", logits.detach().numpy())
PY

"$QUENCH" eval --model "$WORK" --input-ids "$WORK/ids.npy" --attention-mask "$WORK/mask.npy" --dump-logits "$WORK/out.npy" \
  || die "quench eval failed"
"$PYTHON" - "$WORK" <<'PY'
import sys, numpy as np
w = sys.argv[1]
ref, out = np.load(f"{w}/ref.npy"), np.load(f"{w}/out.npy")
assert out.shape == ref.shape == (7, 3), (out.shape, ref.shape)
err = np.abs(out - ref).max()
assert err < 1e-4, f"max |quench - torch| = {err}"
print(f"max |quench - torch| = {err:.2e}")
PY
# bad inputs: one line, exit 2
expect_rc 2 "$QUENCH" eval --model "$WORK/nope" --input-ids "$WORK/ids.npy" --dump-logits "$WORK/o.npy"
"$PYTHON" -c 'import numpy as np, sys; np.save(sys.argv[1], np.full((2, 3), 999, dtype=np.int64))' "$WORK/bad.npy"
expect_rc 2 "$QUENCH" eval --model "$WORK" --input-ids "$WORK/bad.npy" --dump-logits "$WORK/o.npy"
echo ok
