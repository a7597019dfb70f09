# The inference study (kind: inference, docs/jobs.md): tiny random Llama and Phi-2 models with a
# byte-level tokenizer.json (tiny_llm_study.py), tests/e2e/jobs/llm_bench.yaml under mpirun with two
# fake worker kinds (one trial per device.kind), then single-rank on the CPU. Checks every (trial,
# kind) row and its metrics with h5py, a model too big for one kind's memory refused on that kind with
# the reason (and run on the other), quench report's figures and perplexity table, and bad job files.
# Skipped (exit 77) where python3-torch (the model writer) is not installed.
source "$(dirname "$0")/lib.sh"

"$PYTHON" -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed"; exit 77; }
"$PYTHON" "$SRC/tests/e2e/tiny_llm_study.py" "$WORK"
cp "$JOBS/llm_bench.yaml" "$WORK/llm_bench.yaml"
cd "$WORK" # the job names models/ and ppl.txt relative to here

# --- two kinds under mpirun: the l40s worker has 500 KB, too little for phi2_t in fp32 (0.6 MB) ---
QUENCH_FAKE_DEVICES=rtx2080ti,l40s QUENCH_FAKE_DEVICE_MEMORY=1G,500K mpi 3 "$QUENCH" run llm_bench.yaml -o mpi.h5 \
  --progress plain >mpi.log 2>&1 || true # a failed trial makes the exit code non-zero
grep -q "^study e2e-llm-bench: 10 trials, 9 done, 1 failed" mpi.log || die "mpi run: $(tail -5 mpi.log)"

check_rows() { # FILE KINDS...: every (model, precision, kind) row of stage bench and its metrics
  "$PYTHON" - "$@" <<'PY'
import os
import sys
import h5py
sys.path.insert(0, os.environ["SRC"] + "/analysis")
from quench_results import load_trials
path, kinds = sys.argv[1], sys.argv[2:]
with h5py.File(path, "r") as f:  # the file opens with h5py itself, with the stage's kind recorded
    assert f["stages"]["bench"].attrs["kind"] in (b"inference", "inference"), dict(f["stages"]["bench"].attrs)
df = load_trials(path)
bench = df[df["stage"] == "bench"]
want = {(m, p, k) for m in ("models/llama_t", "models/phi2_t") for p in ("fp32", "w8a16") for k in kinds}
got = {(r["params/llm.model"], r["params/llm.precision"], r["params/device.kind"]) for _, r in bench.iterrows()}
assert got == want and len(bench) == len(want), (sorted(got), sorted(want))
refused = {("models/phi2_t", "fp32", "l40s")} if "l40s" in kinds else set()
for _, r in bench.iterrows():
    key = (r["params/llm.model"], r["params/llm.precision"], r["params/device.kind"])
    if key in refused:
        assert r["status"] == "failed", key
        assert r["error"].startswith("needs 0.6 MB of device memory; device.kind l40s (NVIDIA L40S) has 0.5 MB"), r["error"]
        continue
    assert r["status"] == "done", (key, r["error"])
    m = lambda n: float(r["metrics/" + n])
    assert m("load_s") > 0, (key, "load_s")
    assert m("prefill_ms") > 0 and m("ttft_ms") >= m("prefill_ms"), (key, "prefill/ttft")
    assert m("decode_ms_per_token") > 0 and m("tokens_per_s") > 0 and m("new_tokens") == 6, (key, "decode")
    assert m("prompt_tokens") == 8, key  # "hello the llama" in the fixture's merges: he llo Ġthe Ġ ll a m a
    assert 1 < m("perplexity") < 1e9 and m("perplexity_tokens") > 100, (key, "perplexity")
    assert 0 < m("mem_start_bytes") <= m("mem_peak_bytes") and m("mem_end_bytes") <= m("mem_peak_bytes"), (key, "mem")
    assert m("backend_cpu") == 1 - m("gpu_worker"), (key, "backend")  # a GPU worker decodes on its GPU
    if m("backend_cpu") == 1:
        assert m("host_rss_bytes") == m("mem_end_bytes"), (key, "rss")
    else:  # the CUDA backend: mem_* are the device's (docs/jobs.md)
        assert m("device_used_bytes") > 0 and m("host_peak_bytes") > 0, (key, "device memory")
    total = m("weights_float32_bytes") + m("weights_float16_bytes") + m("weights_int8_bytes") + m("weights_other_bytes")
    assert abs(total - m("weights_bytes")) < 1, (key, "footprint")
    if key[1] == "fp32":
        assert m("weights_int8_bytes") == 0 and m("weights_float32_bytes") == m("weights_bytes"), key
    else:  # w8a16: int8 Linear weights, fp32 lm_head/embeddings and norms, per-channel scales
        assert m("weights_int8_bytes") > 0 and m("weights_bytes") < 0.7 * float(
            bench[(bench["params/llm.model"] == key[0]) & (bench["params/llm.precision"] == "fp32")
                  & (bench["status"] == "done")]["metrics/weights_bytes"].iloc[0]), key
batch = df[df["stage"] == "batch"].sort_values("params/llm.batch")
assert list(batch["status"]) == ["done", "done"] and list(batch["metrics/batch"]) == [1, 4], batch
print(f"{path}: {len(df)} rows checked")
PY
}
SRC="$SRC" check_rows mpi.h5 rtx2080ti l40s || die "mpi.h5: rows or metrics wrong"
# the refusal happened at the coordinator: never sent to the l40s worker
grep -q "trial 5 .*FAILED: needs 0.6 MB of device memory; device.kind l40s (NVIDIA L40S) has 0.5 MB" mpi.log \
  || die "no refusal line for trial 5: $(grep FAILED mpi.log)"

# --- report: grouped bars per precision and kind, and the perplexity table ---
"$QUENCH" report mpi.h5 -o rep >rep.log || die "quench report failed: $(cat rep.log)"
for f in inference_throughput.png inference_memory.png index.html; do [[ -s rep/$f ]] || die "report: no $f"; done
grep -q "<h2>Inference trials and perplexity</h2>" rep/index.html || die "report: no inference table"
grep -q "<th>perplexity</th>" rep/index.html || die "report: no perplexity column"

# --- single rank: the CPU is the only kind ---
sed 's/device.kind: \[rtx2080ti, l40s\]/device.kind: [cpu]/; s/device.kind: \[rtx2080ti\]/device.kind: [cpu]/' \
  llm_bench.yaml >cpu.yaml
grep -q "device.kind: \[cpu\]" cpu.yaml || die "sed did not rewrite device.kind"
"$QUENCH" run cpu.yaml -o cpu.h5 --progress plain >cpu.log 2>&1 || die "single-rank run failed: $(tail -5 cpu.log)"
SRC="$SRC" check_rows cpu.h5 cpu || die "cpu.h5: rows or metrics wrong"
# EOS stopping in a trial: eos_token_id set to a token the prompt generates after its first (found with
# quench tokenize + generate); the trial stops there and rates count the steps run; llm.ignore_eos: true
# runs all 6
cp -r models/phi2_t models/phi2_eos
ids=$("$QUENCH" tokenize --tokenizer models/phi2_t/tokenizer.json "hello the llama")
"$PYTHON" -c 'import sys, numpy as np; np.save("eos_ids.npy", np.array([[int(t) for t in sys.argv[1].split()]]))' "$ids"
toks=$("$QUENCH" generate --model models/phi2_t --input-ids eos_ids.npy --max-new-tokens 6 --ignore-eos 2>/dev/null)
"$PYTHON" - "$toks" <<'PY'
import json, sys
toks = [int(t) for t in sys.argv[1].split()]
c = json.load(open("models/phi2_eos/config.json"))
eos = next((t for t in toks if t != toks[0]), toks[0])  # a later token, so that one step runs before it
c["eos_token_id"] = eos
json.dump(c, open("models/phi2_eos/config.json", "w"))
open("eos_want.txt", "w").write(f"{toks.index(eos) + 1}\n")
PY
printf 'name: eos\nseed: 4\nmodel: {arch: llm}\nllm: {model: models/phi2_eos, prompt: "hello the llama", max_new_tokens: 6}\nstages:\n  - name: s\n    kind: inference\n    grid: {llm.ignore_eos: [false, true]}\n' >eos.yaml
"$QUENCH" run eos.yaml -o eos.h5 --progress plain >eos.log 2>&1 || die "eos run failed: $(tail -5 eos.log)"
SRC="$SRC" "$PYTHON" - "$(cat eos_want.txt)" <<'PY' || die "eos: metrics wrong"
import os, sys
sys.path.insert(0, os.environ["SRC"] + "/analysis")
from quench_results import load_trials
want = int(sys.argv[1])
df = load_trials("eos.h5")
for _, r in df.iterrows():
    n = 6 if r["params/llm.ignore_eos"] in ("true", b"true") else want
    assert r["status"] == "done" and r["metrics/new_tokens"] == n and r["metrics/generated_tokens"] == n, (dict(r), n)
print(f"eos.h5: stopped after {want} tokens, 6 with llm.ignore_eos")
PY
# a kind no worker has: refused with the reason, not dispatched
sed 's/device.kind: \[cpu\]/device.kind: [h200]/' cpu.yaml >h200.yaml
set +e; "$QUENCH" run h200.yaml -o h200.h5 --progress plain >h200.log 2>&1; set -e
grep -q "^study e2e-llm-bench: 6 trials, 0 done, 6 failed" h200.log || die "h200: $(tail -3 h200.log)"
grep -q "FAILED: device.kind h200: there is no worker of that kind" h200.log || die "h200: $(grep FAILED h200.log | head -2)"

# a tokenizer whose ids the model has no embeddings for: the trial fails with the reason
sed 's#models/llama_t\]#models/llama_v97]#' cpu.yaml >v97.yaml
set +e; "$QUENCH" run v97.yaml -o v97.h5 --progress plain >v97.log 2>&1; set -e
grep -q "FAILED: llm.prompt: token id 257 is outside the model's vocabulary of 97" v97.log || die "v97: $(grep FAILED v97.log | head -2)"

# --- jobs/examples/llm-quant-bench.yaml validates with stand-ins for its models on seed 004's cards ---
mkdir -p ex/models && cp -r models/llama_t ex/models/llama-3.2-1b && cp -r models/phi2_t ex/models/phi-2
(cd ex && "$QUENCH" validate "$SRC/jobs/examples/llm-quant-bench.yaml" --cluster 1xrtx2080ti,1xrtx8000,1xl40s >v.out) \
  || die "the example does not validate"
grep -q "bench *inference *18" ex/v.out || die "example: expected 18 trials: $(cat ex/v.out)"

# --- bad job files: one line, exit 2, at the place ---
bad() { # NAME YAML-FRAGMENT EXPECTED-MESSAGE (the stage body after name:)
  printf 'name: bad\nmodel: {arch: llm}\nstages:\n  - name: s\n%s\n' "$2" >"bad-$1.yaml"
  set +e; "$QUENCH" validate "bad-$1.yaml" >/dev/null 2>bad.err; local rc=$?; set -e
  [[ $rc -eq 2 && $(wc -l <bad.err) -eq 1 ]] || die "bad $1: exit $rc: $(cat bad.err)"
  grep -q -- "$3" bad.err || die "bad $1: expected '$3', got: $(cat bad.err)"
}
bad precision "    kind: inference
    grid: {llm.model: [models/llama_t], llm.precision: [nf5]}" "bad-precision.yaml:6:.*unknown llm.precision 'nf5': did you mean 'nf4'?"
bad nomodel "    kind: inference" "stage 's' names no model: set llm.model"
bad dir "    kind: inference
    grid: {llm.model: [models/none]}" "llm.model: models/none/config.json is not readable"
bad step "    kind: inference
    run: [eval]
    grid: {llm.model: [models/llama_t]}" "a kind: inference stage runs \[infer\] (or omits run:), not eval"
bad arch "    run: [eval]
    grid: {llm.model: [models/llama_t]}" "stage 's' trains or evaluates a classifier, but model.arch is llm"
bad method "    kind: inference
    method: random" "a kind: inference stage takes grid:, not method:"
bad prompt "    kind: inference
    grid: {llm.model: [models/llama_t], llm.prompt: [hi], llm.max_new_tokens: [0]}" "llm.max_new_tokens must be in \[1, 65536\]"
echo "llm_study: ok"
