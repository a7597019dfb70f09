# quench generate against PyTorch: tiny random Llama (fp32 in two shards, llama3 rope scaling, tied
# embeddings; bf16 with attention biases), Phi-3 (fused projections) and Phi-2 (partial rotary,
# parallel block; fp32 and fp16) models written as Hugging Face writes them, their logits, greedy
# tokens and perplexity computed by a PyTorch re-implementation (tiny_llm.py), and a Phi-3 whose
# sliding window (5) is shorter than its prompts, generations and perplexity windows, and two Phi-3
# longrope models whose generations and perplexity windows cross original_max_position_embeddings
# (short factors before, long after; generate recomputes the cache there), and a Llama with linear
# rope scaling. Checks prefill and
# decode logits to 1e-4, the greedy tokens, the KV cache against quench's own full recompute, the
# perplexity, left-padded batches (--attention-mask) against each prompt alone, stopping at EOS, and
# that broken directories and masks give one line and exit 2.
# Skipped (exit 77) where python3-torch is not installed.
source "$(dirname "$0")/lib.sh"

"$PYTHON" -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed"; exit 77; }

"$PYTHON" "$SRC/tests/e2e/tiny_llm.py" make "$WORK"
for m in llama llama_bf16 phi3 phi2 phi2_fp16 phi3_swa phi3_longrope phi3_su llama_linear; do
  d="$WORK/$m"
  "$QUENCH" generate --model "$d" --input-ids "$d/ids.npy" --max-new-tokens 5 --dump-logits "$d/out_logits.npy" \
    --dump-step-logits "$d/out_step_logits.npy" >"$d/out_tokens.txt" || die "quench generate $m failed"
  "$QUENCH" generate --model "$d" --input-ids "$d/ids_full.npy" --max-new-tokens 0 --dump-logits "$d/out_full_logits.npy" \
    >/dev/null || die "quench generate $m (full recompute) failed"
  "$QUENCH" generate --model "$d" --perplexity "$d/ppl_tokens.npy" $(cat "$d/ppl_args") >"$d/out_ppl.txt" \
    || die "quench generate --perplexity $m failed"
  [ -f "$d/pad_ids.npy" ] || continue
  "$QUENCH" generate --model "$d" --input-ids "$d/pad_ids.npy" --attention-mask "$d/pad_mask.npy" --max-new-tokens 5 \
    --dump-logits "$d/out_pad_logits.npy" --dump-step-logits "$d/out_pad_step_logits.npy" >"$d/out_pad_tokens.txt" \
    || die "quench generate $m --attention-mask failed"
  "$QUENCH" generate --model "$d" --input-ids "$d/pad_ids.npy" --attention-mask "$d/pad_mask_bool.npy" \
    --max-new-tokens 5 >"$d/out_pad_tokens_bool.txt" || die "quench generate $m --attention-mask (bool) failed"
done
"$PYTHON" "$SRC/tests/e2e/tiny_llm.py" check "$WORK"

# Stopping at EOS, as transformers' generate: the model's greedy tokens (PyTorch's, checked above) with
# eos_token_id set to row 0's second token: each row stops at its first EOS (emitted), later positions
# hold pad_token_id, and generation ends once every row has stopped.
d="$WORK/eos"; rm -rf "$d"; cp -r "$WORK/phi3" "$d"
eos_case() { # CONFIG_EOS CONFIG_PAD GENCONFIG(JSON or -): the tokens quench prints, checked against the rule
  "$PYTHON" - "$d" "$1" "$2" "$3" <<'PY'
import json, os, sys
d, eos, pad, gen = sys.argv[1:]
c = json.load(open(d + "/config.json"))
c["eos_token_id"], c["pad_token_id"] = json.loads(eos), json.loads(pad)
json.dump(c, open(d + "/config.json", "w"))
if gen == "-":
    if os.path.exists(d + "/generation_config.json"): os.remove(d + "/generation_config.json")
else:
    open(d + "/generation_config.json", "w").write(gen)
PY
  "$QUENCH" generate --model "$d" --input-ids "$d/ids.npy" --max-new-tokens 5 >"$d/out.txt" || die "generate with EOS $*"
}
check_eos() { # EOS_IDS(JSON) PAD
  "$PYTHON" - "$d" "$1" "$2" <<'PY' || die "EOS stopping: $*"
import json, sys
import numpy as np
d, eos, pad = sys.argv[1], set(json.loads(sys.argv[2])), int(sys.argv[3])
ref = np.load(d + "/ref_tokens.npy")
want, ends = [], []
for row in ref.tolist():
    stop = next((i for i, t in enumerate(row) if t in eos), None)
    ends.append(len(row) if stop is None else stop + 1)
    want.append(row if stop is None else row[:stop + 1] + [pad] * (len(row) - stop - 1))
want = np.array(want)[:, :max(ends)]
got = np.loadtxt(d + "/out.txt", dtype=np.int64, ndmin=2)
assert got.shape == want.shape and (got == want).all(), f"EOS {sorted(eos)} pad {pad}: got\n{got}\nwant\n{want}"
print(f"EOS {sorted(eos)}, pad {pad}: {got.shape[1]} of {ref.shape[1]} steps, rows end at {ends}")
PY
}
x=$("$PYTHON" -c 'import numpy as np, sys; print(int(np.load(sys.argv[1])[0, 1]))' "$d/ref_tokens.npy")
eos_case "$x" 3 -                 # config.json alone: an int, and its pad_token_id
check_eos "[$x]" 3
eos_case 1 null "{\"eos_token_id\": [$x, 1000]}"   # generation_config.json's list wins; pad = its first EOS
check_eos "[$x, 1000]" "$x"
all=$("$PYTHON" -c 'import numpy as np, sys; print(",".join(str(int(t)) for t in np.load(sys.argv[1])[:, 0]))' "$d/ref_tokens.npy")
eos_case null null "{\"eos_token_id\": [$all], \"pad_token_id\": 2}"   # every row stops at once: one step
check_eos "[$all]" 2
[ "$(awk '{print NF}' "$d/out.txt" | sort -u)" = 1 ] || die "generation did not end when every row stopped"
"$QUENCH" generate --model "$d" --input-ids "$d/ids.npy" --max-new-tokens 5 --ignore-eos >"$d/out.txt" \
  || die "--ignore-eos failed"
"$PYTHON" -c 'import numpy as np, sys; assert (np.loadtxt(sys.argv[1], dtype=np.int64, ndmin=2) == np.load(sys.argv[2])).all()' \
  "$d/out.txt" "$d/ref_tokens.npy" || die "--ignore-eos did not generate every token"
echo '{"eos_token_id": "two"}' >"$d/generation_config.json"
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
grep -q "generation_config.json: 'eos_token_id' must be" "$WORK/usage-err" || die "bad eos: $(cat "$WORK/usage-err")"

# Attention masks that are not left padding, or do not fit the prompts: one line, exit 2.
"$PYTHON" - "$WORK" <<'PY'
import sys
import numpy as np
w = sys.argv[1]
np.save(w + "/mask_right.npy", np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1] * 7]))
np.save(w + "/mask_two.npy", np.array([[1] * 7, [0, 0, 2, 1, 1, 1, 1], [1] * 7]))
np.save(w + "/mask_empty.npy", np.array([[1] * 7, [0] * 7, [1] * 7]))
np.save(w + "/mask_shape.npy", np.ones((3, 6), dtype=np.int32))
PY
for k in right two empty shape; do
  expect_usage_error "generate --model $WORK/llama --input-ids $WORK/llama/ids.npy --attention-mask $WORK/mask_$k.npy"
done
grep -q "shape (3, 7)" "$WORK/usage-err" || die "mask shape: $(cat "$WORK/usage-err")"

# Quantized precisions against the same forward with quench's dequantized weights (tiny_llm.py quant).
"$PYTHON" "$SRC/tests/e2e/tiny_llm.py" quant-cases | while read -r m p k; do
  d="$WORK/$m"; q="$d/q-$(echo "$p" | sed 's/[:,]/_/g; s/=//g')"; mkdir -p "$q/deq"
  keep=(); [ "$k" = - ] || keep=(--keep "$k")
  "$QUENCH" generate --model "$d" --precision "$p" "${keep[@]}" --input-ids "$d/ids.npy" --max-new-tokens 5 \
    --dump-logits "$q/logits.npy" --dump-step-logits "$q/step_logits.npy" --dump-dequantized "$q/deq" \
    --footprint >"$q/tokens.txt" 2>"$q/stderr" || die "quench generate $m --precision $p failed: $(cat "$q/stderr")"
  grep -q "^Memory Usage by dtype (MB):" "$q/tokens.txt" || die "$m $p: no footprint"
  sed -i '/^Memory Usage\|^- \|^Footprint/d' "$q/tokens.txt"
done || exit 1
"$PYTHON" "$SRC/tests/e2e/tiny_llm.py" quant "$WORK"
# Precision errors: one line, exit 2.
for p in int4 nf4:block_size=48 nf4:foo=1 int8:threshold=x w8a16:threshold=1 'nf4:'; do
  expect_usage_error "generate --model $WORK/llama --precision $p --footprint"
done
expect_usage_error "generate --model $WORK/llama --precision nf4"

# Broken directories and inputs: one line on stderr, exit 2.
bad() { local d="$WORK/bad-$1"; rm -rf "$d"; cp -r "$WORK/$2" "$d"; echo "$d"; }
d=$(bad noshard llama); rm "$d/model-00002-of-00002.safetensors"
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
grep -q "model-00002-of-00002.safetensors" "$WORK/usage-err" || die "missing shard not named: $(cat "$WORK/usage-err")"
d=$(bad index llama)
"$PYTHON" - "$d" <<'PY'
import json, sys
p = sys.argv[1] + "/model.safetensors.index.json"
ix = json.load(open(p))
ix["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors"   # it is in shard 2
json.dump(ix, open(p, "w"))
PY
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
d=$(bad indexjson llama); echo '{"weight_map": [' >"$d/model.safetensors.index.json"
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
d=$(bad config phi3); head -c 100 "$WORK/phi3/config.json" >"$d/config.json"
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
d=$(bad longrope phi3)
"$PYTHON" - "$d" <<'PY'
import json, sys
p = sys.argv[1] + "/config.json"
c = json.load(open(p))
c["rope_scaling"] = {"type": "longrope", "short_factor": [1.0], "long_factor": [1.0]}
json.dump(c, open(p, "w"))
PY
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
grep -q "rope_scaling 'short_factor' must be a list of 8 numbers" "$WORK/usage-err" \
  || die "short longrope factors not explained: $(cat "$WORK/usage-err")"
d=$(bad shape phi2)
"$PYTHON" - "$d" <<'PY'
import json, sys
p = sys.argv[1] + "/config.json"
c = json.load(open(p))
c["intermediate_size"] = 96
json.dump(c, open(p, "w"))
PY
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
grep -q "fc1.weight' has shape \[128, 80\] where config.json implies \[96, 80\]" "$WORK/usage-err" \
  || die "wrong shape not explained: $(cat "$WORK/usage-err")"
d=$(bad dtype phi3)
"$PYTHON" - "$d" <<'PY'
import sys
p = sys.argv[1] + "/model.safetensors"
b = bytearray(open(p, "rb").read())
i = b.index(b'"dtype": "F32"')            # same length: the header stays valid, the tensor becomes I32
b[i:i + 14] = b'"dtype": "I32"'
open(p, "wb").write(bytes(b))
PY
expect_usage_error "generate --model $d --input-ids $d/ids.npy"
grep -q "is I32; weights must be F32, F16 or BF16" "$WORK/usage-err" || die "wrong dtype: $(cat "$WORK/usage-err")"
expect_usage_error "generate --model $WORK/nope --input-ids $WORK/llama/ids.npy"
"$PYTHON" -c 'import numpy as np, sys; np.save(sys.argv[1], np.full((2, 3), 999, dtype=np.int64))' "$WORK/oov.npy"
expect_usage_error "generate --model $WORK/llama --input-ids $WORK/oov.npy"
expect_usage_error "generate --model $WORK/llama --input-ids $WORK/llama/ids.npy --max-new-tokens 500"
expect_usage_error "generate --model $WORK/llama --perplexity $WORK/llama/ppl_tokens.npy --context 16 --stride 17"
expect_usage_error "generate --model $WORK/llama --input-ids $WORK/llama/ids.npy --perplexity $WORK/llama/ppl_tokens.npy"
expect_usage_error "generate --input-ids $WORK/llama/ids.npy"
echo ok
