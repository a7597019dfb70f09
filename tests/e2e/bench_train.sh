# quench bench train: the JSON's shape on a small model (no timing assertions: the machine may be
# shared), the reference's figures when python3-torch is there, and one-line errors with exit code 2
# for bad flags.
source "$(dirname "$0")/lib.sh"

"$QUENCH" bench train --preset bert-tiny --batch 4 --seq 16 --steps 2 --threads 1 --json > "$WORK/out.json" \
  || die "bench train failed"
have_torch=0
"$PYTHON" -c 'import torch' 2>/dev/null && have_torch=1
"$PYTHON" - "$WORK/out.json" "$have_torch" <<'PY' || die "bench train --json: unexpected output"
import json, sys
text = open(sys.argv[1]).read()
assert text.count("\n") == 1, text
o = json.loads(text)
for k in ("examples_per_s", "reference_examples_per_s", "ratio", "threads", "preset", "batch", "seq"):
    assert k in o, (k, o)
assert o["preset"] == "bert-tiny" and o["batch"] == 4 and o["seq"] == 16 and o["threads"] == 1, o
assert isinstance(o["examples_per_s"], float) and o["examples_per_s"] > 0, o
if sys.argv[2] == "1":
    assert o["reference_examples_per_s"] > 0 and o["ratio"] > 0, o
    assert abs(o["ratio"] - o["examples_per_s"] / o["reference_examples_per_s"]) < 1e-3 * o["ratio"], o
else:
    assert o["reference_examples_per_s"] is None and o["ratio"] is None, o
PY

# without the reference script: quench's figure alone, the reference reported unavailable
QUENCH_BENCH_DIR="$WORK/nowhere" "$QUENCH" bench train --batch 2 --seq 8 --steps 1 --threads 1 > "$WORK/noref.txt" \
  || die "bench train without a reference failed"
grep -q "^quench " "$WORK/noref.txt" && grep -q "unavailable" "$WORK/noref.txt" || die "no reference: $(cat "$WORK/noref.txt")"

# bad flags: one line on stderr, exit code 2
for args in "train --batch 0" "train --seq 513" "train --threads x" "train --steps" "train --preset bert-huge" \
            "train --size 4" "kernels --batch 4" "train --bogus" "nothing" ""; do
  expect_usage_error "bench $args"
done
grep -q "bench train" <<<"$("$QUENCH" bench --help)" || die "bench --help does not list train"
grep -q -- "--threads" <<<"$("$QUENCH" bench --help)" || die "bench --help does not list --threads"
echo "bench train: ok"
