# Checkpoints: which trials keep one (per stage checkpoints: none|best|all), quantized weights stored
# packed (4-bit weights take 1/8 of float32), `quench eval FILE.h5:/trial/N` reproducing the trial's
# accuracy with --data and with --input-ids/--dump-logits, and the same checkpoints after kill + --resume.
source "$(dirname "$0")/lib.sh"
job="$JOBS/checkpoints.yaml"
"$QUENCH" run "$job" -o "$WORK/c.h5" --progress quiet >/dev/null || die "run failed"

layout() { HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$1" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
for t in sorted(f["trial"], key=int):
    c = f["trial"][t].get("checkpoint")
    print(t, "-" if c is None else ("master" if "master" in c else "packed"))
PY
}
layout "$WORK/c.h5" >"$WORK/layout.txt"
# baseline: its only trial (best, and the parent); ptq_qat: all, the chosen parent with its master;
# prune: none
best=$(HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[2])
from quench_results import load_trials
df = load_trials(sys.argv[1]); q = df[df["stage"] == "ptq_qat"]
print(int(q.loc[q["metrics/qat_accuracy"].idxmax(), "id"]))' "$WORK/c.h5" "$SRC/analysis")
other=$((best == 1 ? 2 : 1))
printf '0 packed\n%s master\n%s packed\n3 -\n4 -\n' "$best" "$other" | sort >"$WORK/want.txt"
sort "$WORK/layout.txt" | diff - "$WORK/want.txt" || die "kept checkpoints differ from the policy"

PYTHONPATH="$SRC/analysis" HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$WORK/c.h5" <<'PY'
import sys, numpy as np, h5py
from quench_results import load_checkpoint
f = h5py.File(sys.argv[1], "r")
name = "bert.encoder.layer.0.attention.self.query.weight"
for t, w in ((1, None), (2, None)):
    d = f["trial/%d/checkpoint/%s" % (t, name)]
    width = int(d.attrs["width"])
    assert d.dtype == np.uint8 and d.size * 8 == 32 * 32 * width, (t, d.size, width)   # w/32 of float32
    if width == 4:
        assert d.id.get_storage_size() * 8 == 32 * 32 * 4, d.id.get_storage_size()
    assert f["trial/%d/checkpoint/bert.embeddings.word_embeddings.weight" % t].dtype == np.float32
ck = load_checkpoint(sys.argv[1], 1)
q = ck[name]; fw = int(f["trial/1/checkpoint/" + name].attrs["frac_width"])
assert q.shape == (32, 32) and q.dtype == np.float32
codes = q * 2.0 ** fw
assert np.all(codes == np.round(codes)) and codes.min() >= -2 ** (width - 1) and codes.max() <= 2 ** (width - 1) - 1
assert ck["classifier.weight"].shape == (2, 32)
PY
[[ $? -eq 0 ]] || die "packed sizes"

# eval reproduces the recorded accuracy, through --data and through token ids
for t in 0 1 2; do
  metric=$([[ $t == 0 ]] && echo accuracy || echo qat_accuracy)
  "$QUENCH" eval --model "$WORK/c.h5:/trial/$t" --data synthetic-sentiment --dump-ids "$WORK/ids.npy" \
    --dump-labels "$WORK/labels.npy" >"$WORK/eval.txt" || die "eval of trial $t failed"
  "$PYTHON" -c 'import numpy as np, sys; i = np.load(sys.argv[1]); np.save(sys.argv[2], (i != 0).astype(np.int32))' \
    "$WORK/ids.npy" "$WORK/mask.npy"
  "$QUENCH" eval --model "$WORK/c.h5:/trial/$t" --input-ids "$WORK/ids.npy" --attention-mask "$WORK/mask.npy" \
    --dump-logits "$WORK/logits.npy" || die "eval --dump-logits of trial $t failed"
  PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK" "$t" "$metric" <<'PY' || die "trial $t: eval differs from the study"
import sys, numpy as np
from quench_results import load_trials
w, t, metric = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = float(load_trials(w + "/c.h5").set_index("id").loc[t, "metrics/" + metric])
got = float(open(w + "/eval.txt").read().split()[1])
acc = float((np.load(w + "/logits.npy").argmax(1) == np.load(w + "/labels.npy")).mean())
assert abs(got - want) < 1e-6 and abs(acc - want) < 1e-12, (t, want, got, acc)
print("trial", t, metric, want)
PY
done

# errors: one line, exit 2
expect_rc 2 "$QUENCH" eval --model "$WORK/c.h5:/trial/3" --data synthetic-sentiment
expect_rc 2 "$QUENCH" eval --model "$WORK/c.h5:/trial/99" --data synthetic-sentiment
expect_rc 2 "$QUENCH" eval --model "$WORK/c.h5:/trial/0" --data bogus:spec
"$QUENCH" eval --model "$WORK/c.h5:/trial/3" --data synthetic-sentiment 2>"$WORK/err.txt" || true
[[ $(wc -l <"$WORK/err.txt") == 1 ]] && grep -q "has no checkpoint" "$WORK/err.txt" \
  || die "no one-line message for a trial without a checkpoint: $(cat "$WORK/err.txt")"

# killed after two trials, resumed: the same checkpoints as the uninterrupted run
out="$WORK/k.h5"
setsid "$QUENCH" run "$job" -o "$out" --progress plain >"$WORK/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q "trial 1 " "$WORK/run.log" && break
  sleep 0.05
done
kill -9 -- "-$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"$QUENCH" run "$job" -o "$out" --resume --progress quiet >/dev/null || die "resume failed"
layout "$out" | diff - "$WORK/layout.txt" || die "the resumed study keeps other checkpoints"
echo ok
