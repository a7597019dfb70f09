# quench bench attention and quench bench dequant (lab 4's kernels): the JSON's shape on small
# sizes (no timing assertions: the machine may be shared), the fused and naive kernels agreeing,
# the text output, and one-line errors with exit code 2 for bad flags.
source "$(dirname "$0")/lib.sh"

"$QUENCH" bench attention --shape 2,3,77,64 --threads 2 --json > "$WORK/att.json" || die "bench attention failed"
"$QUENCH" bench attention --json --causal --shape 1,2,130,80 --threads 1 > "$WORK/att-causal.json" \
  || die "bench attention --causal failed"
"$QUENCH" bench dequant --size 2 --json > "$WORK/deq.json" || die "bench dequant failed"
"$PYTHON" - "$WORK/att.json" "$WORK/att-causal.json" "$WORK/deq.json" <<'PY' || die "unexpected --json output"
import json, sys
def one_object(path):
    text = open(path).read()
    assert text.count("\n") == 1 and text.endswith("\n"), text
    return json.loads(text)
def times(t):
    assert set(t) == {"naive_ms", "naive_gflops", "fused_ms", "fused_gflops", "speedup", "max_abs_diff"}, t
    for k in ("naive_ms", "naive_gflops", "fused_ms", "fused_gflops", "speedup"):
        assert isinstance(t[k], float) and t[k] > 0, (k, t)
    assert abs(t["speedup"] - t["naive_ms"] / t["fused_ms"]) <= 1e-3 * t["speedup"] + 1e-4, t
    assert 0 <= t["max_abs_diff"] < 1e-4, t  # the two kernels compute the same attention
for path, causal, shape in ((sys.argv[1], False, [2, 3, 77, 64]), (sys.argv[2], True, [1, 2, 130, 80])):
    o = one_object(path)
    assert set(o) == {"causal", "threads", "gpu", "shapes"} and o["causal"] is causal, o
    assert len(o["shapes"]) == 1, o
    s = o["shapes"][0]
    assert s["shape"] == shape, s
    flops = 4 * shape[0] * shape[1] * shape[2] ** 2 * shape[3] * (0.5 if causal else 1) / 1e9
    assert abs(s["gflop"] - flops) < 1e-3, (s, flops)
    times(s["cpu"])
    assert (s["cuda"] is None) == (o["gpu"] is None), o
    if s["cuda"] is not None and shape[3] <= 128:
        times(s["cuda"])
d = one_object(sys.argv[3])
assert d["mib"] == 2 and d["elements"] == 2 * 2**20 // 2, d
for dev in ("cpu",) + (("cuda",) if d["cuda"] is not None else ()):
    c = d[dev]
    assert c["copy_gbs"] > 0, c
    for k in ("mxint8_to_bf16", "nf4_to_fp16"):
        assert c[k]["gbs"] > 0 and abs(c[k]["ratio"] - c[k]["gbs"] / c["copy_gbs"]) < 1e-3 * c[k]["ratio"] + 1e-4, c
PY

# text: both kernels on the CPU, and what the GPU did
"$QUENCH" bench attention --shape 1,1,33,64 --threads 1 > "$WORK/att.txt" || die "bench attention (text) failed"
grep -q "cpu   naive" "$WORK/att.txt" && grep -q "fused" "$WORK/att.txt" || die "attention text: $(cat "$WORK/att.txt")"
if "$QUENCH" devices --no-bench 2>/dev/null | grep -q ": 0 CUDA devices"; then grep -q "cuda: no GPU" "$WORK/att.txt" || die "no 'cuda: no GPU'"; fi
"$QUENCH" bench dequant --size 1 > "$WORK/deq.txt" || die "bench dequant (text) failed"
grep -q "mxint8 -> bf16" "$WORK/deq.txt" && grep -q "nf4 -> fp16" "$WORK/deq.txt" && grep -q "memcpy" "$WORK/deq.txt" \
  || die "dequant text: $(cat "$WORK/deq.txt")"

# bad flags: one line on stderr, exit code 2
for args in "attention --shape 1,2,3" "attention --shape 1,2,3,4,5" "attention --shape 0,1,1,64" "attention --shape a,b,c,d" \
            "attention --shape 64,64,65536,64" "attention --shape" "attention --threads 0" "attention --size 4" \
            "attention --bogus" "attention extra" "dequant --size 0" "dequant --size 4097" "dequant --size" \
            "dequant --causal" "dequant --shape 1,1,1,1" "dequant extra"; do
  expect_usage_error "bench $args"
done
for word in "bench attention" "bench dequant" "--shape B,H,T,D" "--causal" "GB/s of 16-bit output"; do
  grep -q -- "$word" <<<"$("$QUENCH" bench --help)" || die "bench --help does not mention '$word'"
done
grep -q "bench dequant" <<<"$("$QUENCH" bench attention --help)" || die "bench attention --help is not bench's help"
echo "bench lab4: ok"
