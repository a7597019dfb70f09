# quench generate against PyTorch: tiny random Llama (fp32 in two shards, llama3 rope scaling, tied
# embeddings; bf16 with attention biases), Phi-3 (fused projections) and Phi-2 (partial rotary,
# parallel block; fp32 and fp16) models written as Hugging Face writes them, their logits, greedy
# tokens and perplexity computed by a PyTorch re-implementation (tiny_llm.py). Checks prefill and
# decode logits to 1e-4, the greedy tokens, the KV cache against quench's own full recompute, the
# perplexity, and that broken directories give one line and exit 2.
# Skipped (exit 77) where python3-torch is not installed.
source "$(dirname "$0")/lib.sh"

"$PYTHON" -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed"; exit 77; }

"$PYTHON" "$SRC/tests/e2e/tiny_llm.py" make "$WORK"
for m in llama llama_bf16 phi3 phi2 phi2_fp16; do
  d="$WORK/$m"
  "$QUENCH" generate --model "$d" --input-ids "$d/ids.npy" --max-new-tokens 5 --dump-logits "$d/out_logits.npy" \
    --dump-step-logits "$d/out_step_logits.npy" >"$d/out_tokens.txt" || die "quench generate $m failed"
  "$QUENCH" generate --model "$d" --input-ids "$d/ids_full.npy" --max-new-tokens 0 --dump-logits "$d/out_full_logits.npy" \
    >/dev/null || die "quench generate $m (full recompute) failed"
  "$QUENCH" generate --model "$d" --perplexity "$d/ppl_tokens.npy" --context 16 --stride 6 >"$d/out_ppl.txt" \
    || die "quench generate --perplexity $m failed"
done
"$PYTHON" "$SRC/tests/e2e/tiny_llm.py" check "$WORK"

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
grep -q "longrope" "$WORK/usage-err" || die "longrope not named: $(cat "$WORK/usage-err")"
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
