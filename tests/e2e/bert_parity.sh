# quench eval against PyTorch: a small random BERT classifier written as Hugging Face writes it
# (config.json, model.safetensors with BertForSequenceClassification names), its logits computed by
# a PyTorch re-implementation of the same math, and quench's logits on the same padded inputs.
# Skipped (exit 77) where python3-torch is not installed.
source "$(dirname "$0")/lib.sh"

"$PYTHON" -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed"; exit 77; }

"$PYTHON" - "$WORK" "$SRC/tests/e2e" <<'PY'
import math, sys
import numpy as np, torch
w = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import tiny_bert
np_sd, cfg = tiny_bert.make(w, vocab_size=50, num_labels=3)
sd = {k: torch.from_numpy(v) for k, v in np_sd.items()}
V, P, C, L, NH, I, NL = 50, tiny_bert.P, tiny_bert.C, tiny_bert.L, tiny_bert.NH, tiny_bert.I, 3
torch.manual_seed(0)
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
