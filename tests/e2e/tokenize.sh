#!/usr/bin/env bash
# quench tokenize: encode, decode, tokens and stdin with a small GPT-2-style tokenizer.json written
# here (bytes 0-255 as ids 0-255, then merges he, ll, llo, Ġt, Ġthe), and one-line errors (exit 2).
source "$(dirname "$0")/lib.sh"

"$PYTHON" - "$WORK/tok.json" <<'PY'
import json, sys
def bytes_to_unicode():  # GPT-2's map
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))
vocab = {c: b for b, c in bytes_to_unicode().items()}
merges = ["h e", "l l", "ll o", "Ġ t", "Ġt he"]
for m in merges:
    vocab[m.replace(" ", "")] = len(vocab)   # he 256, ll 257, llo 258, Ġt 259, Ġthe 260
tok = {"version": "1.0", "added_tokens": [{"id": 261, "content": "<|endoftext|>", "special": True}],
       "normalizer": None,
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
       "post_processor": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "vocab": vocab, "merges": merges}}
json.dump(tok, open(sys.argv[1], "w"))
PY
T="$WORK/tok.json"

[[ $("$QUENCH" tokenize --tokenizer "$T" "hello the") == "256 258 260" ]] || die "encode: $("$QUENCH" tokenize --tokenizer "$T" "hello the")"
[[ $("$QUENCH" tokenize --tokenizer "$T" --tokens "hello the<|endoftext|>") == "he llo Ġthe <|endoftext|>" ]] || die "--tokens"
[[ $("$QUENCH" tokenize --tokenizer "$T" --decode 256 258 260) == "hello the" ]] || die "decode"
[[ $("$QUENCH" tokenize --tokenizer "$T" --decode "256,258, 261") == "hello<|endoftext|>" ]] || die "decode list"
[[ $("$QUENCH" tokenize --tokenizer "$T" --decode --no-special "256,258,261") == "hello" ]] || die "decode --no-special"
[[ $(printf 'hello\n' | "$QUENCH" tokenize --tokenizer "$T") == "256 258 10" ]] || die "stdin"
[[ $(printf '256 258\n260\n' | "$QUENCH" tokenize --tokenizer "$T" --decode) == "hello the" ]] || die "decode stdin"
# two texts, two lines
[[ $("$QUENCH" tokenize --tokenizer "$T" a b | wc -l) -eq 2 ]] || die "one line per TEXT"
# a round trip through the command line on text with multi-byte characters
text='héllo wörld 日本 😀 the end'
ids=$("$QUENCH" tokenize --tokenizer "$T" "$text")
[[ $("$QUENCH" tokenize --tokenizer "$T" --decode $ids) == "$text" ]] || die "round trip of '$text' ($ids)"

expect_usage_error "tokenize hello"
expect_usage_error "tokenize --tokenizer $T --decode 5 x"
expect_usage_error "tokenize --tokenizer $T --decode 999"
expect_usage_error "tokenize --tokenizer $WORK/missing.json hi"
sed 's/"ByteLevel"/"Whitespace"/' "$T" >"$WORK/bad.json"
expect_usage_error "tokenize --tokenizer $WORK/bad.json hi"
grep -q "bad.json: unsupported pre_tokenizer 'Whitespace'" "$WORK/usage-err" || die "error text: $(cat "$WORK/usage-err")"
echo "tokenize: ok"
