"""tiny_llm_study.py: the models and files of tests/e2e/llm_study.sh, written with tiny_llm.py's
writer: a tiny random Llama and Phi-2 (vocabulary 263, so that a byte-level tokenizer fits them), each
with the GPT-2-style tokenizer.json of tests/unit/tokenizer_fixtures.h (bytes, 6 merges,
<|endoftext|>), and a text file for perplexity.

  tiny_llm_study.py DIR   writes DIR/models/{llama_t,phi2_t}/, DIR/models/llama_v97/ (vocabulary 97: the
                          tokenizer's ids do not fit it) and DIR/ppl.txt
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_llm  # noqa: E402

V = 263


def byte_char(b):
    """GPT-2's byte -> character map."""
    printable = [c for c in range(256) if ord("!") <= c <= ord("~") or 0xA1 <= c <= 0xAC or 0xAE <= c <= 0xFF]
    if b in printable:
        return chr(b)
    return chr(256 + [c for c in range(256) if c not in printable].index(b))


def tokenizer():
    extra = ["Ġt", "he", "Ġthe", "ll", "llo", "1Ġ"]
    vocab = {byte_char(b): b for b in range(256)}
    vocab.update({t: 256 + i for i, t in enumerate(extra)})
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": 262, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                              "rstrip": False, "normalized": False, "special": True}],
            "normalizer": None, "pre_tokenizer": bl, "post_processor": dict(bl, trim_offsets=False),
            "decoder": dict(bl, add_prefix_space=True),
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                      "merges": ["Ġ t", "h e", "Ġt he", "l l", "ll o", "1 Ġ"]}}


def main(root):
    for name, base, vocab in (("llama_t", "llama", V), ("phi2_t", "phi2", V), ("llama_v97", "llama", 97)):
        cfg = dict(tiny_llm.MODELS[base]["cfg"], vocab_size=vocab, max_position_embeddings=256)
        d = os.path.join(root, "models", name)
        gen = torch.Generator().manual_seed(sum(map(ord, name)))
        tiny_llm.save_model(d, cfg, tiny_llm.make_weights(cfg, gen), "F32", 1)
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(tokenizer(), f)
    with open(os.path.join(root, "ppl.txt"), "w") as f:
        f.write("hello there, the tall llama tells the other llama hello 1 2 3 and the end. " * 4)


if __name__ == "__main__":
    main(sys.argv[1])
