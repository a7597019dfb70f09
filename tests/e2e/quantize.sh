# quench quantize on .npy files written by numpy: shapes and dtypes kept, values on the format's
# grid (checked against numpy re-derivations for integer and fp16/bf16), --stats, and one-line errors
# with exit code 2 for bad specs and malformed files.
source "$(dirname "$0")/lib.sh"

"$PYTHON" - "$WORK" <<'PY'
import sys, numpy as np
w = sys.argv[1]
rng = np.random.default_rng(0)
np.save(f"{w}/f32.npy", (rng.standard_normal((4, 8, 64)) * 3).astype(np.float32))
np.save(f"{w}/f16.npy", (rng.standard_normal((33,)) * 2).astype(np.float16))
np.save(f"{w}/f64.npy", rng.standard_normal((2, 128)))
np.save(f"{w}/scalar.npy", np.float32(0.3))
np.save(f"{w}/fortran.npy", np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)))
np.save(f"{w}/int.npy", np.arange(6, dtype=np.int32))
open(f"{w}/junk.npy", "wb").write(b"not an npy file at all")
raw = open(f"{w}/f32.npy", "rb").read()
open(f"{w}/truncated.npy", "wb").write(raw[:-100])
PY

for spec in "integer:width=8,frac_width=4" "minifloat_ieee:width=8,exponent_width=4,exponent_bias=7" \
            "block_fp:width=8,exponent_width=8,block_size=16" "mxint:width=8,block_size=32" \
            "mxfp:exponent_width=4,frac_width=3" "nf4:block_size=64,double_quant=1" "fp4" "int8" "int8:threshold=2" \
            "log:width=5" "binary:bipolar=1" "ternary" "fp16" "bf16" "block_minifloat:width=8,exponent_width=4,exponent_bias_width=4" \
            "block_log:width=5,exponent_bias_width=4" "minifloat_denorm:width=8,exponent_width=4"; do
  for input in f32 f16 f64 scalar; do
    "$QUENCH" quantize --format "$spec" "$WORK/$input.npy" "$WORK/out.npy" >/dev/null || die "quantize $spec $input"
    "$PYTHON" - "$WORK/$input.npy" "$WORK/out.npy" "$spec" <<'PY' || die "quantize $spec $input: output check"
import sys, numpy as np
x, y, spec = np.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]
assert y.dtype == np.float32 and y.shape == x.shape, (y.dtype, y.shape, x.shape)
x, y = np.atleast_1d(x), np.atleast_1d(y)
assert np.all(np.isfinite(y)), spec
x32 = x.astype(np.float32)
if spec.startswith("integer"):
    ref = np.clip(np.round(x32 * np.float32(16)), -128, 127) / np.float32(16)   # numpy rounds half to even
    assert np.array_equal(ref.astype(np.float32), y), np.max(np.abs(ref - y))
if spec == "fp16":
    assert np.array_equal(x32.astype(np.float16).astype(np.float32), y)
if spec == "bf16":
    b = x32.view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    assert np.array_equal(r.astype(np.uint32).view(np.float32), y)
if spec.startswith("binary"):
    assert set(np.unique(y)) <= {-1.0, 1.0}
PY
  done
done

# --stats: the four figures, bits per element with the scales
"$QUENCH" quantize --format mxint:width=8,block_size=32 "$WORK/f32.npy" "$WORK/out.npy" --stats >"$WORK/stats.txt"
for key in mse sqnr_db max_abs_error bits_per_element; do grep -q "^$key " "$WORK/stats.txt" || die "--stats lacks $key"; done
grep -q "^bits_per_element 8.2500" "$WORK/stats.txt" || die "MXINT8 is 8.25 bits per element: $(cat "$WORK/stats.txt")"
grep -q "^bits_per_element 4.5000" <<<"$("$QUENCH" quantize -f nf4 "$WORK/f32.npy" "$WORK/out.npy" --stats)" || die "NF4 bs64 is 4.5 bits"

# errors: exit 2, one line naming the file or the spec
check() { local want=$1; shift; set +e; "$@" >/dev/null 2>"$WORK/err"; local rc=$?; set -e
  [[ $rc -eq 2 ]] || die "'$*' exited $rc, expected 2"
  [[ $(wc -l <"$WORK/err") -eq 1 ]] || die "'$*': more than one line: $(cat "$WORK/err")"
  grep -q -- "$want" "$WORK/err" || die "'$*': expected '$want' in: $(cat "$WORK/err")"; }
check "unknown format 'integr'" "$QUENCH" quantize --format integr "$WORK/f32.npy" "$WORK/o.npy"
check "integer needs frac_width" "$QUENCH" quantize --format integer:width=8 "$WORK/f32.npy" "$WORK/o.npy"
check "$WORK/junk.npy" "$QUENCH" quantize --format fp16 "$WORK/junk.npy" "$WORK/o.npy"
check "fortran" "$QUENCH" quantize --format fp16 "$WORK/fortran.npy" "$WORK/o.npy"
check "int32\|<i4" "$QUENCH" quantize --format fp16 "$WORK/int.npy" "$WORK/o.npy"
check "truncated" "$QUENCH" quantize --format fp16 "$WORK/truncated.npy" "$WORK/o.npy"
check "$WORK/missing.npy" "$QUENCH" quantize --format fp16 "$WORK/missing.npy" "$WORK/o.npy"
check "say which format" "$QUENCH" quantize "$WORK/f32.npy" "$WORK/o.npy"
[[ ! -e $WORK/o.npy ]] || die "a refused quantize wrote its output"

# bench: a small run prints every format against memcpy, and --json parses
"$QUENCH" bench kernels --size 1 --reps 1 --json >"$WORK/bench.json"
"$PYTHON" - "$WORK/bench.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
assert b["memcpy_gbs"] > 0
for name in ["integer", "minifloat_ieee", "binary", "ternary", "mxint", "mxfp", "nf4", "int8", "fp16", "bf16"]:
    assert b["formats"][name]["gbs"] > 0 and b["formats"][name]["ratio"] > 0, name
PY
echo ok
