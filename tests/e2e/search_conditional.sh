# Conditional (when:) and per-layer (layers.*) search parameters: a TPE search over formats whose
# keys exist only with their format, and a per-layer fp32-or-integer search (lab 3's space) on the
# MLP. Absent parameters are empty/NaN exactly when their condition is false; a study stopped
# part-way and resumed gives the uninterrupted study's table (points restored from the columns).
source "$(dirname "$0")/lib.sh"
JOB="$JOBS/search_conditional.yaml"

"$QUENCH" validate "$JOB" >"$WORK/validate.log" 2>&1 || die "validate: $(cat "$WORK/validate.log")"
grep -q "quant.exponent_width (3): 3, 4, 5 (when quant.name = minifloat_ieee)" "$WORK/validate.log" || die "plan: $(cat "$WORK/validate.log")"

"$QUENCH" run "$JOB" -o "$WORK/full.h5" --progress quiet >"$WORK/run.log" 2>&1 || die "run: $(cat "$WORK/run.log")"
HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$WORK/full.h5" <<'PY' || die "results"
import sys, h5py, math
t = h5py.File(sys.argv[1], "r")["trials"]; n = int(t.attrs["rows"])
assert n == 32, n
st = [s.decode() for s in t["stage"][:n]]
assert all(s.decode() == "done" for s in t["status"][:n])
P = t["params"]
def col(name):
    return [x.decode() if isinstance(x, bytes) else x for x in P[name][:n]]
def absent(x):
    return x == "" or (isinstance(x, float) and math.isnan(x))
name, width, frac, expw = col("quant.name"), col("quant.width"), col("quant.frac_width"), col("quant.exponent_width")
fmt = [i for i in range(n) if st[i] == "formats"]
assert len(fmt) == 16
for i in fmt:
    assert name[i] in ("integer", "minifloat_ieee", "fp16"), name[i]
    assert absent(width[i]) == (name[i] == "fp16"), (i, name[i], width[i])
    assert absent(frac[i]) == (name[i] != "integer"), (i, name[i], frac[i])
    assert absent(expw[i]) == (name[i] != "minifloat_ieee"), (i, name[i], expw[i])
assert len({name[i] for i in fmt}) >= 2, "TPE tried one format only"
mix = [i for i in range(n) if st[i] == "mixed"]
assert len(mix) == 16
for layer in ("fc1", "fc2"):
    ln, lw, lf = (col(f"layers.{layer}.quant.{k}") for k in ("name", "width", "frac_width"))
    for i in mix:
        assert ln[i] in ("fp32", "integer"), ln[i]
        assert absent(lw[i]) == absent(lf[i]) == (ln[i] == "fp32"), (i, layer, ln[i], lw[i], lf[i])
        assert absent(lw[i]) or lw[i] in (8, 16, 32)
        assert absent(lf[i]) or lf[i] in (2, 4, 8)
    for i in fmt:
        assert absent(ln[i]) and absent(lw[i]), "a stage's per-layer columns are empty in other stages"
PY

# Stop (SIGTERM: running trials finish) past TPE's 10 startup trials in each stage, resume: the same
# table as one run, so the points restored from the columns fed TPE what it saw before.
for at in 13 27; do
  HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$QUENCH" "$JOB" "$WORK/stopped-$at.h5" "$at" <<'PY' || die "stop at $at"
import sys, subprocess, signal, h5py
p = subprocess.Popen([sys.argv[1], "run", sys.argv[2], "-o", sys.argv[3], "--progress", "plain"],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
for line in p.stdout:
    if line.startswith("[%2d/32]" % int(sys.argv[4])):
        p.send_signal(signal.SIGTERM)
p.wait()
rows = int(h5py.File(sys.argv[3], "r")["trials"].attrs["rows"])
assert rows < 32, f"not stopped: {rows} rows"
PY
  "$QUENCH" run "$JOB" -o "$WORK/stopped-$at.h5" --resume --progress quiet >"$WORK/resume.log" 2>&1 || die "resume: $(cat "$WORK/resume.log")"
  $CHECK "$WORK/stopped-$at.h5" --trials 32 --done 32 --failed 0 >/dev/null
done
for f in full stopped-13 stopped-27; do "$QUENCH" export "$WORK/$f.h5" --csv | cut -d, -f1-3,6,9- | sort -n >"$WORK/$f.csv"; done
for f in stopped-13 stopped-27; do diff "$WORK/full.csv" "$WORK/$f.csv" || die "$f: the resumed study differs from an uninterrupted one"; done
echo "ok"
