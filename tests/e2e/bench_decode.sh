# quench bench decode: the JSON's shape and arithmetic for every precision on the generated random
# Llama and on tiny models of each architecture (no timing assertions: the machine may be shared);
# with python3-torch, PyTorch's decode (bench/llm_decode_torch.py) must choose the same greedy tokens
# as quench's fp32, which shows both ran the same model on the same prompts; bad flags give one line
# and exit 2.
source "$(dirname "$0")/lib.sh"

have_torch=0
"$PYTHON" -c 'import torch' 2>/dev/null && have_torch=1
ALL=fp16,bf16,w8a16,int8,nf4,fp4,nf4:double_quant=1

check() { # check JSON PRECISIONS BATCH HAVE_REFERENCE
  "$PYTHON" - "$@" <<'PY' || die "bench decode --json: unexpected output: $(cat "$1")"
import json, sys
path, precisions, batch, have_ref = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4] == "1"
# "nf4:double_quant=1" is one precision: a key=value piece belongs to the name before it
want = ["fp32"]
for p in precisions:
    if "=" in p and ":" not in p: want[-1] += "," + p
    elif p != "fp32": want.append(p)
text = open(path).read()
assert text.count("\n") == 1, text
o = json.loads(text)
for k in ("model", "batch", "threads", "copy_gbs", "results", "reference", "cuda"):
    assert k in o, (k, o)
assert o["batch"] == batch and o["threads"] == 1 and o["copy_gbs"] > 0, o
r = o["results"]
assert [x["precision"] for x in r] == want, ([x["precision"] for x in r], want)
f32 = r[0]
assert f32["ratio_vs_fp32"] == 1.0 and f32["goal_ratio"] is None, f32
for x in r:
    for k in ("tokens_per_s", "ms_per_token", "weight_bytes", "bound_tokens_per_s", "fraction_of_bound"):
        assert isinstance(x[k], (int, float)) and x[k] > 0, (k, x)
    close = lambda a, b: abs(a - b) <= 1e-4 * abs(b)
    assert close(x["tokens_per_s"], batch * 1e3 / x["ms_per_token"]), x
    assert close(x["bound_tokens_per_s"], batch * o["copy_gbs"] * 1e9 / x["weight_bytes"]), (x, o["copy_gbs"])
    assert close(x["fraction_of_bound"], x["tokens_per_s"] / x["bound_tokens_per_s"]), x
    assert close(x["ratio_vs_fp32"], x["tokens_per_s"] / f32["tokens_per_s"]), x
    if x is not f32:
        assert close(x["goal_ratio"], 0.7 * f32["weight_bytes"] / x["weight_bytes"]), x
        assert x["meets_goal"] == (x["ratio_vs_fp32"] >= x["goal_ratio"]), x
        # every packed precision reads fewer bytes than fp32 (lm_head stays fp32)
        assert x["weight_bytes"] < f32["weight_bytes"], x
byname = {x["precision"]: x["weight_bytes"] for x in r}
if "nf4" in byname and "w8a16" in byname:
    assert byname["nf4"] < byname["w8a16"] < byname.get("fp16", float("inf")), byname
if have_ref:
    ref = o["reference"]
    assert ref and ref["tokens_per_s"] > 0, o
    assert abs(ref["ratio"] - f32["tokens_per_s"] / ref["tokens_per_s"]) <= 1e-4 * ref["ratio"], ref
    assert ref["same_tokens"] is True, ("PyTorch chose other greedy tokens than quench's fp32", ref)
else:
    assert o["reference"] is None and o["reference_error"], o
PY
}

# the generated random Llama (252 MB of float32), every precision, a few steps
mkdir "$WORK/tmp"
TMPDIR="$WORK/tmp" "$QUENCH" bench decode --precision "$ALL" --prompt-len 4 --new-tokens 3 --threads 1 --json \
  >"$WORK/gen.json" || die "bench decode on the generated model failed"
check "$WORK/gen.json" "$ALL" 1 "$have_torch"
[[ -z $(ls -A "$WORK/tmp") ]] || die "bench decode left its temporary model behind: $(ls -A "$WORK/tmp")"

if [[ $have_torch == 1 ]]; then
  # tiny models of each architecture (GQA with llama3 scaling in shards, bf16, Phi-3, Phi-2), batch 2
  "$PYTHON" "$SRC/tests/e2e/tiny_llm.py" make "$WORK/tiny" >/dev/null
  for m in llama llama_bf16 phi3 phi2; do
    "$QUENCH" bench decode --model "$WORK/tiny/$m" --precision w8a16,nf4 --batch 2 --prompt-len 5 --new-tokens 6 \
      --threads 1 --json >"$WORK/$m.json" || die "bench decode --model $m failed"
    check "$WORK/$m.json" w8a16,nf4 2 1
  done
  # the text form: quench's rows, PyTorch's, the ratio
  "$QUENCH" bench decode --model "$WORK/tiny/llama" --precision w8a16 --new-tokens 2 --threads 1 >"$WORK/text.txt" \
    || die "bench decode (text) failed"
  grep -q "^fp32 " "$WORK/text.txt" && grep -q "^w8a16 " "$WORK/text.txt" && grep -q "^pytorch fp32 .*x PyTorch$" "$WORK/text.txt" \
    && grep -q "^cuda: " "$WORK/text.txt" || die "bench decode text: $(cat "$WORK/text.txt")"
  # without the reference script: quench's figures, the reference null with its reason
  QUENCH_BENCH_DIR="$WORK/nowhere" "$QUENCH" bench decode --model "$WORK/tiny/phi3" --precision int8 --new-tokens 2 \
    --threads 1 --json >"$WORK/noref.json" || die "bench decode without a reference failed"
  check "$WORK/noref.json" int8 1 0
  tiny="$WORK/tiny/llama"
else
  tiny="$WORK/nowhere"
fi

# bad flags and inputs: one line on stderr, exit code 2
for args in "decode --batch 0" "decode --batch 65" "decode --prompt-len x" "decode --new-tokens" "decode --threads 0" \
            "decode --bogus" "decode extra" "decode --model $WORK/nowhere" "decode --size 4" "kernels --model x"; do
  expect_usage_error "bench $args"
done
if [[ $have_torch == 1 ]]; then
  expect_usage_error "bench decode --model $tiny --precision nf5 --threads 1"
  grep -q "nf5" "$WORK/usage-err" || die "unknown precision not named: $(cat "$WORK/usage-err")"
  expect_usage_error "bench decode --model $tiny --prompt-len 100 --new-tokens 40"   # 128 positions
  expect_usage_error "bench decode --model $tiny --precision =1"
fi
grep -q "bench decode" <<<"$("$QUENCH" bench --help)" || die "bench --help does not list decode"
grep -q -- "--new-tokens" <<<"$("$QUENCH" bench --help)" || die "bench --help does not list --new-tokens"
echo "bench decode: ok"
