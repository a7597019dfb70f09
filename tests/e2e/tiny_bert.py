"""A small random BERT classifier written as Hugging Face writes one: config.json, model.safetensors
(BertForSequenceClassification names, float32) and, with --vocab, a vocab.txt of that many tokens.

    python3 tiny_bert.py DIR [--vocab-size 50] [--vocab WORD ...]   (writes DIR/{config.json,model.safetensors,vocab.txt})

Imported by the parity check, which also needs the state dict itself (make(dir) returns it)."""
import json
import math
import struct
import sys

import numpy as np

C, L, NH, I, P = 32, 2, 4, 64, 40


def make(d, vocab_size=50, num_labels=3, seed=0, words=None):
    rng = np.random.default_rng(seed)
    cfg = {"model_type": "bert", "vocab_size": vocab_size, "max_position_embeddings": P, "type_vocab_size": 2,
           "hidden_size": C, "num_hidden_layers": L, "num_attention_heads": NH, "intermediate_size": I,
           "hidden_act": "gelu", "layer_norm_eps": 1e-12, "id2label": {str(i): f"L{i}" for i in range(num_labels)}}
    json.dump(cfg, open(f"{d}/config.json", "w"))

    def r(*shape, s=0.5):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    sd = {"bert.embeddings.word_embeddings.weight": r(vocab_size, C), "bert.embeddings.position_embeddings.weight": r(P, C),
          "bert.embeddings.token_type_embeddings.weight": r(2, C),
          "bert.embeddings.LayerNorm.weight": 1 + r(C, s=0.1), "bert.embeddings.LayerNorm.bias": r(C, s=0.1)}
    for layer in range(L):
        p = f"bert.encoder.layer.{layer}."
        for n, (o, i) in {"attention.self.query": (C, C), "attention.self.key": (C, C), "attention.self.value": (C, C),
                          "attention.output.dense": (C, C), "intermediate.dense": (I, C), "output.dense": (C, I)}.items():
            sd[p + n + ".weight"], sd[p + n + ".bias"] = r(o, i, s=1 / math.sqrt(i)), r(o, s=0.1)
        for n in ["attention.output.LayerNorm", "output.LayerNorm"]:
            sd[p + n + ".weight"], sd[p + n + ".bias"] = 1 + r(C, s=0.1), r(C, s=0.1)
    sd["bert.pooler.dense.weight"], sd["bert.pooler.dense.bias"] = r(C, C, s=1 / math.sqrt(C)), r(C, s=0.1)
    sd["classifier.weight"], sd["classifier.bias"] = r(num_labels, C, s=1 / math.sqrt(C)), r(num_labels, s=0.1)
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k, t in sd.items():
        b = t.tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(f"{d}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    if words is not None:
        tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + list(words)
        tokens += [f"[unused{i}]" for i in range(vocab_size - len(tokens))]
        assert len(tokens) == vocab_size
        open(f"{d}/vocab.txt", "w").write("\n".join(tokens) + "\n")
    return sd, cfg


if __name__ == "__main__":
    args = sys.argv[1:]
    size = int(args[args.index("--vocab-size") + 1]) if "--vocab-size" in args else 50
    labels = int(args[args.index("--labels") + 1]) if "--labels" in args else 2
    words = args[args.index("--vocab") + 1:] if "--vocab" in args else None
    make(args[0], size, labels, words=words)
