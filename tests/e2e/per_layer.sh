# Per-layer quantization through a study under mpirun: the params column carries the layer
# parameter's full name, each layer's packed checkpoint has its own width, and quench eval
# rebuilds the same per-layer formats and reproduces each trial's accuracy.
source "$(dirname "$0")/lib.sh"

grep -q "layer  classifier: integer:width=12" <<<"$("$QUENCH" validate "$JOBS/per_layer.yaml")" ||
  die "validate does not show the classifier's override"
mpi 3 "$QUENCH" run "$JOBS/per_layer.yaml" -o "$WORK/p.h5" --progress plain >"$WORK/run.log" 2>&1 ||
  die "run failed: $(tail -5 "$WORK/run.log")"
$CHECK "$WORK/p.h5" --trials 2 --done 2 --failed 0 --metric qat_accuracy >/dev/null
"$PYTHON" - "$WORK/p.h5" >"$WORK/acc.txt" <<'PY'
import sys, h5py
Q = "bert.encoder.layer.0.attention.self.query"
with h5py.File(sys.argv[1], "r") as f:
    t = f["trials"]
    col = "params/layers." + Q + ".quant.width"
    assert col in t, list(t["params"])
    widths = list(t[col][:])
    assert sorted(widths) == [4.0, 8.0], widths
    for row, tid in enumerate(t["id"][:]):
        w = int(widths[row])
        ck = f["trial/%d/checkpoint" % tid]
        def fmt(name):
            return ck[name].attrs["format"].decode() if isinstance(ck[name].attrs["format"], bytes) else ck[name].attrs["format"]
        q = ck[Q + ".weight"]
        assert int(q.attrs["width"]) == w, (tid, dict(q.attrs))
        # packed: width bits per element
        assert q.size == (32 * 32 * w + 7) // 8, (tid, q.size)
        assert fmt(Q + ".weight") == "integer:width=%d,frac_width=%d" % (w, (w + 1) // 2), fmt(Q + ".weight")
        assert fmt("bert.encoder.layer.0.attention.self.key.weight") == "integer:width=16,frac_width=8"
        assert fmt("bert.encoder.layer.1.attention.self.query.weight") == "integer:width=16,frac_width=8"
        assert fmt("classifier.weight") == "integer:width=12,frac_width=6"
        print(tid, t["metrics/qat_accuracy"][row])
PY
[[ $(wc -l <"$WORK/acc.txt") -eq 2 ]] || die "expected 2 trials to check: $(cat "$WORK/acc.txt")"
while read -r tid acc; do
  got=$("$QUENCH" eval --model "$WORK/p.h5:/trial/$tid" --data job | awk '{print $2}')
  "$PYTHON" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); assert abs(a - b) < 1e-9, (a, b)" "$got" "$acc" ||
    die "trial $tid: quench eval gives $got, the study recorded $acc"
done <"$WORK/acc.txt"
echo ok
