#!/usr/bin/env python3
"""Writes the tokenizer.json fixtures of tests/unit/test_io_tokenizer_hf.c and the ids and text the
Hugging Face `tokenizers` library gives for them (NAME.cases). Run by hand where `tokenizers` is
installed (pip install tokenizers; not a Debian package, so CI only reads what this wrote):

    python3 tests/tokenizers/make_fixtures.py tests/tokenizers

Each tokenizer is a small BPE trained by the library itself, assembled from the components of one
model family (docs/tokenizers.md): GPT-2/Phi-2 byte-level, Llama 3 (Split regex + ByteLevel without
regex, ignore_merges, BOS template, chat tokens), Phi-3/Llama 2 (Prepend/Replace normalizer, byte
fallback, decoder sequence, added tokens normalized or not, lstrip/rstrip) and Metaspace.
A line of NAME.cases: hex(text) TAB ids TAB ids with special tokens TAB hex(decode(ids))
TAB hex(decode(ids with special tokens, skip_special_tokens=True)); ids comma-separated.
Also BERT's WordPiece (tests/unit/test_io_wordpiece.c): wordpiece_vocab.txt and wordpiece.cases (needs
transformers too)."""
import json
import random
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")

TRAIN = [
    "The quick brown fox jumps over the lazy dog. It's the fox's den; they'll see.",
    "Quantization maps weights to fewer bits; pruning removes the smallest weights.",
    "def forward(self, x):\n    return self.linear(x) + 1\n",
    "Ünïcödé àccents: café, naïve, résumé, São Paulo, Zürich.",
    "日本語のテキストです。東京は大きい。中文测试：你好，世界！",
    "Привет, мир! Как дела? Γειά σου Κόσμε. مرحبا بالعالم",
    "Numbers 2024, 365 days, 3.14159 and 1,000,000.",
    "emoji 😀😃 👍🏽 and symbols ∑∫√∞ ≤ ≥",
] * 4

TEXTS = [
    "Hello world", "hello  world", " Hello", "  leading", "trailing   ", "   ", "", " ", "\n", "\n\n\n",
    "\t\ttabs\tand", "a\r\nb\r\n", "I'm sure they'll've done it, shan't we? He's, I'LL, DON'T",
    "The year 2024 has 365 days; 1234567890 and 3.14159.", "Ünïcödé àccents café naïve résumé",
    "日本語のテキストです。", "中文测试：你好，世界！", "한국어 텍스트", "Привет, мир!", "مرحبا بالعالم",
    "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️", "math ∑∫√∞ ≤ ≥ ≠", "def f(x):\n    return x**2  # sq\n",
    "for (int i = 0; i < n; i++) { a[i] += 2; }", "https://example.com/p?q=1&r=2", "$100.00 €50 £20",
    "!!!???...,,,", "a  b   c    d", "x\u00a0y\u2009z\u3000w", "zero\u200bwidth", "\u2028\u2029sep",
    "ＦＵＬＬ ｗｉｄｔｈ", "ﬁ ligature", "A" * 120, "ab" * 60, "1" * 20, " " * 20 + "x",
    "supercalifragilisticexpialidocious", "control\x01\x02\x7fchars", "'s 's 'S 'll", "1 2 3 12 123 1234 12345",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Ⅻ ⅷ ① ½ ² ١٢٣", "mixed日本English",
    # added tokens in text
    "<s>hi</s> there", "a <s> b", "a  <s>  b", "x<s>y", "<s>", " <s>", "<s> <s>", "hi<unk>",
    "<|begin_of_text|>hi", "a<|eot_id|>b <|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
    "hi<|user|>  \n hello <|end|>\n<|assistant|>", "<|end|>\u3000x", "a \u00a0<custom> b", "<custom>",
    "x<|endoftext|>y", "<|endoftext|><|endoftext|>",
]


def random_texts(n, seed):
    rng = random.Random(seed)
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 \n\t.,;:!?'\"()-_+=*/@#$%&|<>")
                + list("éüßçñ日本語中文한국Привет😀👍🏽\u00a0\u3000…—“”"))
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(n)]


def added(content, id_, special=True, normalized=False, lstrip=False, rstrip=False):
    return {"id": id_, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def byte_level(llama3):
    tok = Tokenizer(models.BPE())
    if llama3:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TRAIN, trainers.BpeTrainer(vocab_size=420, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    j = json.loads(tok.to_str())
    n = len(j["model"]["vocab"])
    if llama3:
        names = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        j["added_tokens"] = [added(c, n + k) for k, c in enumerate(names)]
        j["model"]["ignore_merges"] = True
        j["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [n], "tokens": ["<|begin_of_text|>"]}}}]}
    else:  # GPT-2's <|endoftext|> is normalized (no normalizer: the same text); one taken from the vocab
        j["added_tokens"] = [added("<|endoftext|>", n, normalized=True), added("Ġthe", n + 1, special=False)]
        j["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    return j


def sentencepiece_style(metaspace):
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    else:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    tok.train_from_iterator(TRAIN, trainers.BpeTrainer(vocab_size=220, special_tokens=["<unk>", "<s>", "</s>"],
                                                       limit_alphabet=100, show_progress=False))
    j = json.loads(tok.to_str())
    trained = sorted(j["model"]["vocab"], key=j["model"]["vocab"].get)
    vocab = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    vocab += [t for t in trained if t not in vocab]
    j["model"]["vocab"] = {t: i for i, t in enumerate(vocab)}
    n = len(vocab)
    # Llama 2 derivatives mark <s> normalized: matched as the normalizer writes it ("▁<s>")
    j["added_tokens"] = [added("<unk>", 0), added("<s>", 1, normalized=not metaspace), added("</s>", 2),
                         added("<|endoftext|>", n), added("<|user|>", n + 1, rstrip=True),
                         added("<|assistant|>", n + 2, rstrip=True), added("<|end|>", n + 3, rstrip=True),
                         added("<custom>", n + 4, special=False, lstrip=True)]
    j["post_processor"] = {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    return j


def main(out):
    texts = TEXTS + random_texts(40, 7)
    for name, j in [("gpt2", byte_level(False)), ("llama3", byte_level(True)),
                    ("phi3", sentencepiece_style(False)), ("metaspace", sentencepiece_style(True))]:
        path = f"{out}/{name}.json"
        with open(path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, separators=(",", ":"))
        tok = Tokenizer.from_file(path)
        with open(f"{out}/{name}.cases", "w") as f:
            f.write(f"# tokenizers {tokenizers.__version__}: hex(text) ids ids+special hex(decode) hex(decode skip special)\n")
            for text in texts:
                ids = tok.encode(text, add_special_tokens=False).ids
                with_special = tok.encode(text, add_special_tokens=True).ids
                f.write("\t".join([text.encode().hex(), ",".join(map(str, ids)), ",".join(map(str, with_special)),
                                   tok.decode(ids, skip_special_tokens=False).encode().hex(),
                                   tok.decode(with_special, skip_special_tokens=True).encode().hex()]) + "\n")
    wordpiece(out, texts)


def wordpiece(out, texts):
    """BERT's uncased WordPiece: a vocab.txt the library trained, and the ids transformers' BertTokenizer
    gives (without [CLS]/[SEP]); only texts on which BertTokenizerFast agrees (they differ on characters
    their Unicode tables classify differently: see docs/datasets.md)."""
    from transformers import BertTokenizer, BertTokenizerFast
    from tokenizers import BertWordPieceTokenizer
    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(TRAIN, vocab_size=400, show_progress=False,
                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    vocab = sorted(wp.get_vocab().items(), key=lambda kv: kv[1])
    with open(f"{out}/wordpiece_vocab.txt", "w", encoding="utf-8") as f:
        f.writelines(token + "\n" for token, _ in vocab)
    slow = BertTokenizer(f"{out}/wordpiece_vocab.txt", do_lower_case=True)
    fast = BertTokenizerFast(f"{out}/wordpiece_vocab.txt", do_lower_case=True)
    extra = ["a[SEP]b [sep] x[UNK]y[MASK]", "[[CLS]]", "naïve\u0301 e\u0301 Straße İstanbul", "x" * 100, "x" * 101,
             "un\u00adbreak a\ufeffb", "\u3400\u4e00\uf900\U00020000", "Don’t “quote” — dash… ellipsis"]
    with open(f"{out}/wordpiece.cases", "w") as f:
        f.write(f"# transformers BertTokenizer: hex(text) ids (no [CLS]/[SEP])\n")
        for text in texts + extra:
            if "\x00" in text:
                continue
            ids = slow.encode(text, add_special_tokens=False)
            if ids == fast.encode(text, add_special_tokens=False):
                f.write(text.encode().hex() + "\t" + ",".join(map(str, ids)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
