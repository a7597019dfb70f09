#!/usr/bin/python3
"""bert_train_torch.py: the reference of `quench bench train`.

One training step (forward, backward, AdamW) of Hugging Face's BertForSequenceClassification,
written with plain torch.nn (no transformers package): post-LN encoder, erf GELU, HF's eager
attention (matmul, additive padding mask, softmax, matmul), [CLS] pooler with tanh, a linear
classifier, cross-entropy. Dropout off, fp32, random weights, random token ids, every token
valid. Prints one JSON object on stdout:

  {"examples_per_s": X, "best_step_s": S, "median_step_s": M, "threads": N, "torch": "1.13.0", ...}

Usage: bert_train_torch.py --layers L --hidden C --heads NH --intermediate I --vocab V
                           --batch B --seq T --steps S --warmup W --threads N
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(self, C, NH, I, eps):
        super().__init__()
        self.NH, self.HS = NH, C // NH
        self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.att_out, self.ln1 = nn.Linear(C, C), nn.LayerNorm(C, eps=eps)
        self.inter, self.out, self.ln2 = nn.Linear(C, I), nn.Linear(I, C), nn.LayerNorm(C, eps=eps)

    def forward(self, x, ext_mask):
        B, T, C = x.shape
        def heads(t):
            return t.view(B, T, self.NH, self.HS).transpose(1, 2)
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.HS) + ext_mask
        ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        h = self.ln1(self.att_out(ctx) + x)
        return self.ln2(self.out(F.gelu(self.inter(h))) + h)


class BertClassifier(nn.Module):
    def __init__(self, V, P, L, C, NH, I, NL, eps=1e-12):
        super().__init__()
        self.word, self.pos, self.token_type = nn.Embedding(V, C, padding_idx=0), nn.Embedding(P, C), nn.Embedding(2, C)
        self.emb_ln = nn.LayerNorm(C, eps=eps)
        self.layers = nn.ModuleList(Layer(C, NH, I, eps) for _ in range(L))
        self.pooler, self.classifier = nn.Linear(C, C), nn.Linear(C, NL)
        for mod in self.modules():  # BERT's initialisation
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, 0.0, 0.02)
            if isinstance(mod, nn.Linear):
                nn.init.zeros_(mod.bias)

    def forward(self, ids, mask):
        T = ids.shape[1]
        x = self.emb_ln(self.word(ids) + self.token_type(torch.zeros_like(ids)) + self.pos.weight[:T])
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, ext)
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))


def main():
    ap = argparse.ArgumentParser()
    for name, default in (("layers", 2), ("hidden", 128), ("heads", 2), ("intermediate", 512), ("vocab", 30522),
                          ("positions", 512), ("labels", 2), ("batch", 32), ("seq", 128), ("steps", 10),
                          ("warmup", 2), ("threads", 1), ("seed", 0)):
        ap.add_argument("--" + name, type=int, default=default)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = BertClassifier(a.vocab, a.positions, a.layers, a.hidden, a.heads, a.intermediate, a.labels)
    model.train()  # no dropout modules exist: train() changes nothing but states the intent
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    ids = torch.randint(1, a.vocab, (a.batch, a.seq))
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    labels = torch.randint(0, a.labels, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=False)  # quench zeroes its gradient buffer every step too
        loss = F.cross_entropy(model(ids, mask), labels)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    best, median = times[0], times[len(times) // 2]
    json.dump({"examples_per_s": a.batch / best, "best_step_s": best, "median_step_s": median,
               "threads": torch.get_num_threads(), "torch": torch.__version__.split("+")[0],
               "batch": a.batch, "seq": a.seq, "steps": a.steps}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
