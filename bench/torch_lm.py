#!/usr/bin/env python3
"""PyTorch baseline for `st-bench --task lm`: the same causal language model and training step.

The model is the causal language model of docs/design.md, "The model", written again in PyTorch:
token + learned position embeddings (no CLS), pre-LN blocks (LayerNorm eps 1e-6) of causal
SimpleTRON attention and a GELU-erf FFN, final LayerNorm, logits h E^T with the token embedding
E (tied), cross-entropy over every next token. Attention per head, with s_t = (t + 1)^-1/2:

    y_t = s_t q_t sum_{j <= t} k_j v_j^T

computed in chunks of L tokens, all chunks at once: intra-chunk products tril(Q_c K_c^T) V_c plus
Q_c P_c, where P_c is the exclusive prefix sum over chunks of the chunk states K_c^T V_c. Dropout
0, random tokens, AdamW (weight decay 0.01, not on biases, LayerNorm or embeddings). --compile
runs the model under torch.compile.

One step is timed as st-bench times it: forward + loss, backward, optimizer step + zero_grad;
medians over --steps after --warmup. CSV on stdout (st-bench's columns where they exist),
progress on stderr.

  python3 bench/torch_lm.py --d 256 --layers 4 --heads 4 --n 4096,16384 --chunk 64 --threads 2 [--compile]
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def causal_simpletron(q, k, v, scale, chunk):  # (B, H, N, dh), scale (N) -> (B, H, N, dh)
    B, H, N, dh = q.shape
    L = min(chunk, N)
    C = -(-N // L)
    pad = C * L - N
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    qc, kc, vc = (t.reshape(B, H, C, L, dh) for t in (q, k, v))
    states = kc.transpose(-1, -2) @ vc                     # (B, H, C, dh, dh)
    prefix = states.cumsum(2) - states                     # exclusive: chunks before c
    mask = torch.ones(L, L, dtype=q.dtype, device=q.device).tril()
    intra = ((qc @ kc.transpose(-1, -2)) * mask) @ vc      # (B, H, C, L, dh)
    y = (qc @ prefix + intra).reshape(B, H, C * L, dh)[:, :, :N]
    return y * scale[:, None]


class Block(nn.Module):
    def __init__(self, d, heads, d_ff, chunk):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.heads, self.chunk = heads, chunk

    def forward(self, x, scale):  # (B, N, d)
        B, N, d = x.shape
        H = self.heads
        h = self.ln1(x)

        def split(t):
            return t.reshape(B, N, H, d // H).transpose(1, 2)

        y = causal_simpletron(split(self.q(h)), split(self.k(h)), split(self.v(h)), scale, self.chunk)
        x = x + y.transpose(1, 2).reshape(B, N, d)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class LanguageModel(nn.Module):
    def __init__(self, vocab, max_len, d, heads, layers, d_ff, chunk):
        super().__init__()
        self.tokens = nn.Parameter(0.02 * torch.randn(vocab, d))
        self.positions = nn.Parameter(0.02 * torch.randn(max_len, d))
        self.blocks = nn.ModuleList(Block(d, heads, d_ff, chunk) for _ in range(layers))
        self.final_ln = nn.LayerNorm(d, eps=1e-6)

    def forward(self, ids):  # (B, N) -> mean next-token cross-entropy
        B, N = ids.shape
        h = self.tokens[ids] + self.positions[:N]
        scale = torch.arange(1, N + 1, dtype=h.dtype, device=h.device).rsqrt()
        for b in self.blocks:
            h = b(h, scale)
        logits = self.final_ln(h) @ self.tokens.t()         # (B, N, vocab)
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def optimizer(model):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        skip = name.endswith("bias") or "ln" in name or name in ("tokens", "positions")
        (no_decay if skip else decay).append(p)
    return torch.optim.AdamW([dict(params=decay, weight_decay=0.01), dict(params=no_decay, weight_decay=0.0)],
                             lr=1e-4)


def run(a, n):
    torch.manual_seed(1)
    model = LanguageModel(a.vocab, n, a.d, a.heads, a.layers, a.ff_mult * a.d, a.chunk)
    params = sum(p.numel() for p in model.parameters())
    opt = optimizer(model)
    step_model = torch.compile(model) if a.compile else model
    ids = torch.randint(1, a.vocab, (a.batch, n))
    fwd, bwd, op = [], [], []
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = step_model(ids)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        print(f"  torch lm N={n} step {s + 1}/{a.warmup + a.steps}: {t3 - t0:.3f} s "
              f"(fwd {t1 - t0:.3f}, bwd {t2 - t1:.3f}, opt {t3 - t2:.3f})", file=sys.stderr)
        if s >= a.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            op.append(t3 - t2)
    step = statistics.median(f + b + o for f, b, o in zip(fwd, bwd, op))
    return dict(params=params, tokens_per_s=a.batch * n / step, fwd_ms=1e3 * statistics.median(fwd),
                bwd_ms=1e3 * statistics.median(bwd), opt_ms=1e3 * statistics.median(op), step_ms=1e3 * step)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ff-mult", type=int, default=4)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--n", default="4096,16384")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    a = p.parse_args()
    if a.d % a.heads:
        sys.exit(f"torch_lm: --d {a.d} is not a multiple of --heads {a.heads}")
    torch.set_num_threads(a.threads)
    impl = "torch-compile" if a.compile else "torch-eager"
    print(f"torch_lm: torch {torch.__version__}, {torch.get_num_threads()} threads, {impl}, d {a.d}, "
          f"{a.layers} layers, {a.heads} heads, chunk {a.chunk}, vocab {a.vocab}, batch {a.batch}", file=sys.stderr)
    print("impl,kind,n,d,layers,heads,batch,threads,params,status,tokens_per_s,fwd_ms,bwd_ms,opt_ms,step_ms,note")
    for n in (int(x) for x in a.n.split(",")):
        r = run(a, n)
        print(f"{impl},simpletron,{n},{a.d},{a.layers},{a.heads},{a.batch},{a.threads},{r['params']},ok,"
              f"{r['tokens_per_s']:.1f},{r['fwd_ms']:.2f},{r['bwd_ms']:.2f},{r['opt_ms']:.2f},{r['step_ms']:.2f},",
              flush=True)


if __name__ == "__main__":
    main()
