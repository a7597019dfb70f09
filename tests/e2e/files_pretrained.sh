# Studies on text files: an aclImdb directory with a vocab.txt (random BERT), and CSV/TSV/JSONL
# splits starting from a Hugging Face checkpoint (model.pretrained, its vocab.txt): trials run and
# record metrics; bad files are one-line errors before anything runs, or failed trials naming the file.
source "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/imdb" "$WORK/tab" "$WORK/model"
"$PYTHON" - "$WORK" "$SRC/tests/e2e" <<'PY'
import csv, json, os, random, sys
w = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import tiny_bert
pos, neg = ["good", "great", "superb", "fun"], ["bad", "dull", "awful", "boring"]
subj = ["the", "movie", "film", "plot", "was", "is", "very", "not"]
words = pos + neg + subj + [",", ".", "!", "##s"]
tiny_bert.make(f"{w}/model", vocab_size=40, num_labels=2, words=words)
rng = random.Random(1)
def review(label):
    return f"The {rng.choice(['movie', 'film', 'plot'])} was {rng.choice(['very ', ''])}{rng.choice(pos if label else neg)}!"
for split, n in (("train", 120), ("test", 40)):
    rows = [(review(l), l) for l in [i % 2 for i in range(n)]]
    for label, name in ((1, "pos"), (0, "neg")):
        os.makedirs(f"{w}/imdb/{split}/{name}", exist_ok=True)
    for i, (t, l) in enumerate(rows):
        open(f"{w}/imdb/{split}/{'pos' if l else 'neg'}/{i}_{7 if l else 2}.txt", "w").write(t)
    with open(f"{w}/tab/{split}.csv", "w", newline="") as f:
        c = csv.writer(f); c.writerow(["id", "text", "label"]); c.writerows((i, t, l) for i, (t, l) in enumerate(rows))
    open(f"{w}/tab/{split}.tsv", "w").write("label\ttext\n" + "".join(f"{l}\t{t}\n" for t, l in rows))
    open(f"{w}/tab/{split}.jsonl", "w").write("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows))
PY
cp "$WORK/model/vocab.txt" "$WORK/vocab.txt"

cat >"$WORK/imdb.yaml" <<EOF
name: files-imdb
model: {arch: bert, hidden_size: 16, layers: 1, heads: 2, intermediate_size: 32}
data: {dataset: imdb, path: $WORK/imdb, vocab: $WORK/vocab.txt, train_size: 100, eval_size: 40, max_len: 16}
train: {epochs: 2, batch_size: 16, lr: 3.0e-3}
stages:
  - name: base
    run: [train, eval]
  - name: q
    from: base
    grid: {quant.name: [integer], quant.width: [8], quant.frac_width: ["50%"]}
    run: [ptq_eval]
EOF
grep -q "imdb" <<<"$("$QUENCH" validate "$WORK/imdb.yaml")" || die "validate does not name the imdb dataset"
mpi 2 "$QUENCH" run "$WORK/imdb.yaml" -o "$WORK/imdb.h5" --progress plain >"$WORK/imdb.log" 2>&1 \
  || die "imdb run failed: $(tail -5 "$WORK/imdb.log")"
$CHECK "$WORK/imdb.h5" --trials 2 --done 2 --failed 0 --metric accuracy >/dev/null

# The same rows as CSV, TSV and JSONL, fine-tuned from the checkpoint: identical numbers for all three.
for fmt in csv tsv jsonl; do
  cat >"$WORK/$fmt.yaml" <<EOF
name: files-$fmt
model: {arch: bert, pretrained: $WORK/model}
data: {dataset: $fmt, path: $WORK/tab, train_size: 100, eval_size: 40, max_len: 16}
train: {epochs: 1, batch_size: 16, lr: 1.0e-3}
stages:
  - name: base
    run: [eval, train, eval]
EOF
  "$QUENCH" run "$WORK/$fmt.yaml" -o "$WORK/$fmt.h5" --progress quiet >"$WORK/$fmt.log" 2>&1 \
    || die "$fmt run failed: $(tail -5 "$WORK/$fmt.log")"
  $CHECK "$WORK/$fmt.h5" --trials 1 --done 1 --metric accuracy --dump-csv "$WORK/$fmt.csv" >/dev/null
  cut -d, -f2- "$WORK/$fmt.csv" | grep -v wall >"$WORK/$fmt.cut" || true
done
"$PYTHON" - "$WORK" <<'PY' || die "csv, tsv and jsonl studies disagree"
import sys, pandas as pd
w = sys.argv[1]
frames = {f: pd.read_csv(f"{w}/{f}.csv") for f in ("csv", "tsv", "jsonl")}
cols = [c for c in frames["csv"].columns if c.startswith("metrics/") and "wall" not in c and "_s" not in c[-2:]]
assert "metrics/accuracy" in cols, cols
for f in ("tsv", "jsonl"):
    for c in cols:
        assert frames[f][c].equals(frames["csv"][c]), (f, c, frames[f][c].tolist(), frames["csv"][c].tolist())
PY

# Bad paths are refused before anything runs.
sed "s#path: $WORK/tab#path: $WORK/nowhere#" "$WORK/csv.yaml" >"$WORK/bad-path.yaml"
expect_rc 2 "$QUENCH" validate "$WORK/bad-path.yaml" 2>"$WORK/err"
grep -q "data.path '$WORK/nowhere' is not readable" "$WORK/err" || die "bad data.path: $(cat "$WORK/err")"
sed "s#pretrained: $WORK/model#pretrained: $WORK/tab#" "$WORK/csv.yaml" >"$WORK/bad-model.yaml"
expect_rc 2 "$QUENCH" validate "$WORK/bad-model.yaml" 2>"$WORK/err"
grep -q "config.json is not readable" "$WORK/err" || die "bad model.pretrained: $(cat "$WORK/err")"

# A malformed row is a failed trial that names the file and line; the study still finishes (exit 3).
mkdir -p "$WORK/badtab"
cp "$WORK/tab/test.csv" "$WORK/badtab/test.csv"
printf 'id,text,label\n0,"fine film",1\n1,"dull",x\n' >"$WORK/badtab/train.csv"
sed "s#path: $WORK/tab#path: $WORK/badtab#" "$WORK/csv.yaml" >"$WORK/bad-rows.yaml"
expect_rc 3 "$QUENCH" run "$WORK/bad-rows.yaml" -o "$WORK/bad.h5" --progress quiet >"$WORK/bad.log" 2>&1
"$PYTHON" - "$WORK/bad.h5" <<'PY' || die "the failed trial does not say what is wrong"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    err = f["trials"]["error"][0]
    err = err.decode() if isinstance(err, bytes) else str(err)
    assert "train.csv:3:" in err and "label 'x'" in err, err
PY
echo ok
