# quench's BERT training against PyTorch: a small random BertForSequenceClassification written as
# Hugging Face writes it (tests/e2e/tiny_bert.py), trained full-batch by the worker's model
# (tests/parity/bert_train_dump.c: forward, backward, AdamW, the lr schedule, pruning) and by the same
# math in torch (autograd, torch.optim.AdamW, LambdaLR with transformers' schedule lambdas, MASE's
# integer fake quantization with straight-through gradients, MASE's l1-norm pruning). Compared: the
# loss, every parameter's gradient, the logits, and the parameters after the updates. Cases: fp32
# with linear warmup/decay, cosine; integer QAT; weight and activation pruning during fine-tuning;
# weight decay over the Trainer's param groups (the default: none for biases and LayerNorm) and over
# every parameter, each also checked to differ from the other grouping; the same on the CUDA backend
# where there is one.
# Skipped (exit 77) where python3-torch is not installed.
source "$(dirname "$0")/lib.sh"

"$PYTHON" -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed"; exit 77; }
: "${BERT_TRAIN_DUMP:?the bert_train_dump harness (set by ctest)}"

# the model and a padded labelled batch
"$PYTHON" - "$WORK" "$SRC/tests/e2e" <<'PY'
import sys
import numpy as np
w = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import tiny_bert
tiny_bert.make(w, vocab_size=50, num_labels=3)
rng = np.random.default_rng(1)
N, T = 7, 12
lens = np.array([12, 5, 9, 1, 12, 3, 7])
ids = rng.integers(1, 50, (N, T)) * (np.arange(T)[None, :] < lens[:, None])  # [PAD] = 0 after each sequence
np.save(f"{w}/ids.npy", ids.astype(np.int64)); np.save(f"{w}/lens.npy", lens.astype(np.int32))
np.save(f"{w}/labels.npy", np.array([0, 2, 1, 1, 0, 2, 1], dtype=np.int64))
PY

# case NAME, then the harness's options (the torch side reads the same options)
run_case() {
  local name=$1; shift
  mkdir -p "$WORK/$name"
  local rc=0
  "$BERT_TRAIN_DUMP" "$WORK" "$WORK/ids.npy" "$WORK/lens.npy" "$WORK/labels.npy" "$WORK/$name" "$@" || rc=$?
  if [[ $rc -eq 77 ]]; then echo "$name: skipped (no CUDA backend here)"; return 0; fi
  [[ $rc -eq 0 ]] || die "bert_train_dump $name failed (exit $rc)"
  "$PYTHON" - "$WORK" "$SRC/tests/e2e" "$name" "$@" <<'PY' || die "case $name differs from PyTorch"
import math, re, sys
import numpy as np, torch
torch.set_default_dtype(torch.float32)
w, name, argv = sys.argv[1], sys.argv[3], sys.argv[4:]
sys.path.insert(0, sys.argv[2])
import tiny_bert
argv = [a for a in argv if a != "--cuda"]
opt = dict(zip(argv[0::2], argv[1::2]))
steps, lr = int(opt.get("--steps", 3)), float(opt.get("--lr", 1e-3))
wd, schedule = float(opt.get("--weight-decay", 0.01)), opt.get("--schedule", "constant")
warmup_ratio = float(opt.get("--warmup-ratio", 0))
wd_params = opt.get("--weight-decay-params", "trainer")
quant = tuple(int(v) for v in opt["--quant"].split(",")) if "--quant" in opt else None
prune_w, prune_a = float(opt.get("--prune-weight", -1)), float(opt.get("--prune-activation", -1))

np_sd, cfg = tiny_bert.make(f"{w}/{name}", vocab_size=50, num_labels=3)  # the same seed: the same weights
V, P, C, L, NH, I, NL = 50, tiny_bert.P, tiny_bert.C, tiny_bert.L, tiny_bert.NH, tiny_bert.I, 3
HS = C // NH
ids = torch.from_numpy(np.load(f"{w}/ids.npy")); lens = torch.from_numpy(np.load(f"{w}/lens.npy")).long()
labels = torch.from_numpy(np.load(f"{w}/labels.npy"))
N, T = ids.shape
mask = (torch.arange(T)[None, :] < lens[:, None]).float()

# quench's parameter buffer: the state dict in its order (worker/bert.h), names without "bert."
LIN = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]
order = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
         "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
for l in range(L):
    p = f"encoder.layer.{l}."
    for n in LIN: order += [p + n + ".weight", p + n + ".bias"]
    order += [p + "attention.output.LayerNorm.weight", p + "attention.output.LayerNorm.bias"]
    for n in ["intermediate.dense", "output.dense"]: order += [p + n + ".weight", p + n + ".bias"]
    order += [p + "output.LayerNorm.weight", p + "output.LayerNorm.bias"]
order += ["pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"]
hf = lambda n: n if n.startswith("classifier") else "bert." + n
P_ = {n: torch.tensor(np_sd[hf(n)], requires_grad=True) for n in order}

# Hugging Face Trainer's weight decay groups (Trainer.get_decay_parameter_names): no decay for the
# parameters of nn.LayerNorm modules and for names matching its patterns (any "bias", "layernorm",
# "rmsnorm", a "norm" component), on the full state-dict name; every other parameter decays.
NO_DECAY_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]
def trainer_decays(n): return not any(re.search(pat, hf(n).lower()) for pat in NO_DECAY_PATTERNS)
decayed = {n for n in order if trainer_decays(n)}
assert decayed == {n for n in order if n.endswith(".weight") and "LayerNorm" not in n}, decayed
linears = [n[:-len(".weight")] for n in order if n.endswith(".weight") and "LayerNorm" not in n and "embeddings" not in n]

def flat(d): return torch.cat([d[n].detach().reshape(-1) for n in order]).numpy()
def split(x):
    out, o = {}, 0
    for n in order:
        k = P_[n].numel(); out[n] = x[o:o + k].reshape(P_[n].shape); o += k
    assert o == x.size, (o, x.size)
    return out

def fq(x):
    """MASE's integer quantizer (round half to even, clamp to the signed range), straight-through."""
    if quant is None: return x
    width, frac = quant
    s, lim = 2.0 ** frac, 2.0 ** (width - 1)
    return x + (torch.clamp(torch.round(x * s), -lim, lim - 1) / s - x).detach()

def l1_keep(x, sparsity):
    """MASE's l1-norm mask: keep |x| strictly above the sparsity quantile of |x|."""
    return (x.abs() > torch.quantile(x.detach().abs().flatten(), sparsity)).float()

# weight masks from the loaded weights, fixed through fine-tuning (MASE's parametrization W * mask)
wmask = {n: l1_keep(P_[n + ".weight"].detach(), prune_w) for n in linears} if prune_w >= 0 else {}
act_sparsity = []

def lin(x, n):
    if prune_a >= 0:  # the activation mask of the layer's input, recomputed on every forward, then quantize
        m = l1_keep(x.detach(), prune_a); act_sparsity.append(1 - m.mean().item()); x = x * m
    W = P_[n + ".weight"] * wmask[n] if n in wmask else P_[n + ".weight"]
    return fq(x) @ fq(W).T + fq(P_[n + ".bias"])

def ln(x, n): return torch.nn.functional.layer_norm(x, (C,), P_[n + ".weight"], P_[n + ".bias"], 1e-12)

def forward():
    """BertForSequenceClassification without dropout: logits and the mean cross-entropy."""
    x = P_["embeddings.word_embeddings.weight"][ids] + P_["embeddings.token_type_embeddings.weight"][0]
    x = ln(x + P_["embeddings.position_embeddings.weight"][:T], "embeddings.LayerNorm")
    ext = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
    for l in range(L):
        p = f"encoder.layer.{l}."
        q, k, v = (lin(x, p + "attention.self." + n).view(N, T, NH, HS).transpose(1, 2) for n in ("query", "key", "value"))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + ext, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(N, T, C)
        h = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        x = ln(lin(torch.nn.functional.gelu(lin(h, p + "intermediate.dense")), p + "output.dense") + h, p + "output.LayerNorm")
    logits = lin(torch.tanh(lin(x[:, 0], "pooler.dense")), "classifier")
    return logits, torch.nn.functional.cross_entropy(logits, labels)

def effective():
    return {n: (P_[n] * wmask[n[:-len(".weight")]] if n.endswith(".weight") and n[:-len(".weight")] in wmask else P_[n])
            for n in order}

# The key bias's gradient is zero but for rounding (softmax ignores a constant added to a row of
# scores); Adam turns that noise into steps of about lr either way, so its values are compared
# against the sum of the rates instead, and its gradient against the largest gradient.
KEY_BIAS = {n for n in order if n.endswith("attention.self.key.bias")}

def compare(what, got, want, rtol, key_bias_atol=None):
    """Tensor by tensor: max |quench - torch| over max |torch| (norm-wise relative)."""
    worst, top = 0.0, max(np.abs(want[n]).max() for n in order)
    for n in order:
        g, r = got[n], want[n]
        if n in KEY_BIAS:
            err = np.abs(g - r).max()
            if key_bias_atol is None: assert max(np.abs(g).max(), np.abs(r).max()) < 1e-4 * top, f"{name}: {n} {err}"
            else: assert err <= key_bias_atol, f"{name}: {what} {n}: {err:.2e} > {key_bias_atol:.2e}"
            continue
        err = np.abs(g - r).max() / max(np.abs(r).max(), 1e-30)
        if err > rtol: sys.exit(f"{name}: {what} {n}: relative error {err:.2e} > {rtol:.0e}")
        worst = max(worst, err)
    print(f"{name}: {what}: worst relative error {worst:.2e} over {len(order) - len(KEY_BIAS)} tensors")

# the pruned starting point
if wmask:
    q0 = split(np.load(f"{w}/{name}/params0.npy"))
    for n, m in wmask.items():
        assert np.array_equal(q0[n + ".weight"] != 0, m.numpy() != 0), f"{name}: weight mask of {n} differs"
# HF Trainer's warmup length (TrainingArguments.get_warmup_steps) and schedule lambdas
warmup = math.ceil(steps * warmup_ratio)
def lam(s):
    if s < warmup: return s / max(1, warmup)
    if schedule == "constant": return 1.0
    prog = (s - warmup) / max(1, steps - warmup)
    if schedule == "linear": return max(0.0, (steps - s) / max(1, steps - warmup))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * prog)))
def train(grouping):
    """The torch training from the loaded weights: (losses, rates, gradients and logits of the first
    update, effective parameters after the last)."""
    with torch.no_grad():
        for n in order: P_[n].copy_(torch.from_numpy(np_sd[hf(n)]))
    if grouping == "all":  # torch.optim.AdamW(model.parameters())
        groups = [{"params": [P_[n] for n in order], "weight_decay": wd}]
    else:  # as Trainer.create_optimizer: the decayed parameters, then the others at weight_decay 0
        groups = [{"params": [P_[n] for n in order if n in decayed], "weight_decay": wd},
                  {"params": [P_[n] for n in order if n not in decayed], "weight_decay": 0.0}]
    opt_ = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt_, lam)
    losses, rates = [], []
    for s in range(steps):
        opt_.zero_grad()
        logits, loss = forward()
        loss.backward()
        if s == 0:
            g0 = {n: P_[n].grad.numpy().copy() for n in order}
            logits0 = logits.detach().numpy()
        rates.append(opt_.param_groups[0]["lr"])
        losses.append(loss.item())
        opt_.step(); sched.step()
    with torch.no_grad(): losses.append(forward()[1].item())
    return losses, rates, g0, logits0, {n: t.detach().numpy().copy() for n, t in effective().items()}

losses, rates, g0, logits0, final = train(wd_params)
act_sparsity_run = list(act_sparsity)

# gradients of the first update to 1e-5 relative (measured ~1e-6); parameters after the updates too,
# 5e-5 with fake quantization or activation masks, where a value next to a rounding step or the
# threshold may fall on the other side (measured ~1e-6)
tol, ptol = 1e-5, (5e-5 if quant or prune_a >= 0 else 1e-5)
ql = np.load(f"{w}/{name}/loss.npy"); qr = np.load(f"{w}/{name}/lr.npy")
assert np.allclose(qr, rates, rtol=1e-6, atol=0), f"{name}: learning rates {qr} vs torch {rates}"
assert np.allclose(ql, losses, rtol=tol, atol=0), f"{name}: losses {ql} vs torch {losses}"
assert np.abs(np.load(f"{w}/{name}/logits0.npy").reshape(N, NL) - logits0).max() < 1e-4, f"{name}: logits differ"
g = split(np.load(f"{w}/{name}/grads0.npy"))
for n in wmask: g[n + ".weight"] = g[n + ".weight"] * wmask[n].numpy()  # a pruned weight's gradient is unused
compare("gradient", g, g0, tol)
compare(f"parameters after {steps} updates", split(np.load(f"{w}/{name}/params.npy")), final, ptol, 2.5 * sum(rates))
if wd * sum(rates) > 1e-3:  # the other grouping must not pass: the comparison sees which parameters decay
    other = train("all" if wd_params == "trainer" else "trainer")[4]
    apart = [n for n in order if n not in KEY_BIAS and
             np.abs(other[n] - final[n]).max() > 10 * ptol * max(np.abs(final[n]).max(), 1e-30)]
    assert apart, f"{name}: weight_decay_params {wd_params} and the other grouping give the same parameters"
    print(f"{name}: weight_decay_params {wd_params}: the other grouping differs in {len(apart)} tensors")
if wmask:
    q = split(np.load(f"{w}/{name}/params.npy"))
    for n, m in wmask.items():
        assert not np.any(q[n + ".weight"][m.numpy() == 0]), f"{name}: a pruned weight of {n} moved"
print(f"{name}: losses {np.array2string(ql, precision=6)}, rates {np.array2string(qr, precision=6)}"
      + (f", activation sparsity {np.mean(act_sparsity_run):.3f}" if act_sparsity_run else ""))
PY
}

run_case fp32-linear  --steps 6 --lr 2e-3 --weight-decay 0.01 --schedule linear --warmup-ratio 0.34
run_case fp32-cosine  --steps 5 --lr 1e-3 --weight-decay 0.1 --schedule cosine --warmup-ratio 0.2
run_case qat-integer  --steps 4 --lr 1e-3 --quant 12,6
run_case prune        --steps 4 --lr 1e-3 --weight-decay 0.01 --prune-weight 0.5 --prune-activation 0.3
# weight decay large enough to tell the groupings apart: the Trainer's (the default) and every parameter
run_case wd-trainer   --steps 4 --lr 2e-3 --weight-decay 0.5 --weight-decay-params trainer
run_case wd-all       --steps 4 --lr 2e-3 --weight-decay 0.5 --weight-decay-params all
# the CUDA backend, where this build and machine have one
run_case cuda-linear  --cuda --steps 6 --lr 2e-3 --weight-decay 0.01 --schedule linear --warmup-ratio 0.34
run_case cuda-qat     --cuda --steps 4 --lr 1e-3 --quant 12,6
run_case cuda-prune   --cuda --steps 4 --lr 1e-3 --prune-weight 0.5 --prune-activation 0.3
run_case cuda-wd-trainer --cuda --steps 4 --lr 2e-3 --weight-decay 0.5 --weight-decay-params trainer
run_case cuda-wd-all  --cuda --steps 4 --lr 2e-3 --weight-decay 0.5 --weight-decay-params all
echo ok
