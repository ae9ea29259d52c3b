#!/usr/bin/env python3
"""PyTorch baseline for st-bench: the same model and training step, on the CPU or a CUDA device.

The model is the one of docs/design.md, "The model", written again in PyTorch (as
tests/reference/make_model_fixtures.py does, here as nn.Modules): token + learned position embeddings, a CLS vector prepended without a
position, pre-LN blocks (LayerNorm eps 1e-6) of attention (simpletron: Y = s Q (K^T V) per head,
s = 1/sqrt(n); softmax; linear_elu) and a GELU-erf FFN, final LayerNorm, CLS head
Linear(d, d) -> GELU -> Linear(d, classes), cross-entropy. Dropout 0, random tokens without padding,
AdamW (weight decay 0.01, not on biases, LayerNorm or embeddings). Same parameter count as
st-bench (printed: compare with its `params` column).

--first-row-only makes the last block compute position 0 alone, as st-bench's model does (the
CLS head reads nothing else): the same loss and gradients for fewer FLOPs. Without it, the plain
model: the fair "same program" baseline.

One step is timed as st-bench does: forward + loss, backward, optimizer step + zero_grad; medians
over --steps after --warmup (on cuda each phase ends with torch.cuda.synchronize()). Output: CSV on
stdout, with the same columns as st-bench where they exist (on the CPU peak memory is not measured).
With --device cuda or --precision bf16 the columns peak_bytes (torch.cuda.max_memory_allocated),
device, precision, step_tflop and mfu come before note, as st-bench writes them; the FLOP count is
st-bench's (see `st-bench --help`). --precision bf16 runs forward + loss under
torch.autocast(bfloat16); --sdpa writes softmax attention as F.scaled_dot_product_attention (flash
or cuDNN kernels on a GPU) instead of the explicit softmax(Q K^T) V. Progress goes to stderr.

  python3 bench/torch_reference.py --d 256 --n 1024,4096 --kinds simpletron --threads 2 [--compile]
  python3 bench/torch_reference.py --device cuda --precision bf16 --d 1024 --heads 16 --layers 4 \
      --tokens-per-step 65536 --n 1024,4096 --kinds simpletron,softmax [--compile] [--sdpa]
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d, heads, kind, sdpa=False):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.heads, self.kind, self.sdpa = heads, kind, sdpa

    def forward(self, x, query_rows=None):  # (B, N, d) -> (B, N or query_rows, d)
        B, N, d = x.shape
        H, dh = self.heads, d // self.heads
        xq = x if query_rows is None else x[:, :query_rows]

        def split(t):
            return t.reshape(B, t.shape[1], H, dh).transpose(1, 2)  # (B, H, N, dh)

        q, k, v = split(self.q(xq)), split(self.k(x)), split(self.v(x))
        if self.kind == "simpletron":
            s = 1.0 / math.sqrt(N)  # no padding: n = N (CLS included)
            y = q @ (s * (k.transpose(-1, -2) @ v))
        elif self.kind == "softmax" and self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v)
        elif self.kind == "softmax":
            y = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v
        else:  # linear_elu
            fq, fk = F.elu(q) + 1, F.elu(k) + 1
            z = fk.sum(2, keepdim=True)
            y = (fq @ (fk.transpose(-1, -2) @ v)) / (fq @ z.transpose(-1, -2) + 1e-6)
        return y.transpose(1, 2).reshape(B, q.shape[2], d)


class Block(nn.Module):
    def __init__(self, d, heads, d_ff, kind, sdpa=False):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.attn = Attention(d, heads, kind, sdpa)
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x, first_row_only=False):
        if first_row_only:  # position 0 alone after the attention (what st-bench's model does)
            x = x[:, :1] + self.attn(self.ln1(x), query_rows=1)
        else:
            x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Classifier(nn.Module):
    def __init__(self, vocab, max_len, d, heads, layers, d_ff, classes, kind, first_row_only=False,
                 sdpa=False):
        super().__init__()
        self.first_row_only = first_row_only
        self.tokens = nn.Parameter(0.02 * torch.randn(vocab, d))
        self.positions = nn.Parameter(0.02 * torch.randn(max_len, d))
        self.cls = nn.Parameter(0.02 * torch.randn(d))
        self.blocks = nn.ModuleList(Block(d, heads, d_ff, kind, sdpa) for _ in range(layers))
        self.final_ln = nn.LayerNorm(d, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, classes)

    def forward(self, ids):  # (B, N) -> (B, classes)
        B, N = ids.shape
        h = self.tokens[ids] + self.positions[:N]
        h = torch.cat([self.cls.expand(B, 1, -1), h], 1)
        for i, b in enumerate(self.blocks):
            h = b(h, self.first_row_only and i + 1 == len(self.blocks))
        h = self.final_ln(h)
        return self.fc2(F.gelu(self.fc1(h[:, 0])))


def optimizer(model, fused):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        skip = name.endswith("bias") or "ln" in name or name in ("tokens", "positions", "cls")
        (no_decay if skip else decay).append(p)
    groups = [dict(params=decay, weight_decay=0.01), dict(params=no_decay, weight_decay=0.0)]
    return torch.optim.AdamW(groups, lr=1e-4, fused=fused or None)


def estimate_bytes(a, kind, n):
    """st-bench's estimate without the parameter term (activations, and N x N for softmax
    unless --sdpa)."""
    T = a.batch * (n + 1)
    act = T * a.layers * (16 * a.d + 3 * a.ff_mult * a.d) * 4
    quad = a.batch * a.heads * (n + 1) ** 2 * 4 * (a.layers + 3) if kind == "softmax" and not a.sdpa else 0
    return act + quad


def step_flops(a, kind, n):
    """st-bench's nominal training FLOPs of one step (forward x 3; see `st-bench --help`)."""
    T, d, f = a.batch * (n + 1), a.d, a.ff_mult * a.d
    per_layer = 2 * T * (3 * d * d + 2 * d * f)
    if kind == "softmax":
        per_layer += 2 * 2 * a.batch * (n + 1) ** 2 * d
    else:
        per_layer += 2 * 2 * T * d * (d // a.heads)
    return 3 * per_layer * a.layers


def run(a, kind, n):
    torch.manual_seed(1)
    dev = torch.device(a.device)
    model = Classifier(a.vocab, n, a.d, a.heads, a.layers, a.ff_mult * a.d, a.classes, kind,
                       a.first_row_only, a.sdpa).to(dev)
    params = sum(p.numel() for p in model.parameters())
    opt = optimizer(model, a.fused)
    step_model = torch.compile(model) if a.compile else model
    ids = torch.randint(1, a.vocab, (a.batch, n)).to(dev)
    labels = torch.randint(0, a.classes, (a.batch,)).to(dev)
    cuda = dev.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16")

    fwd, bwd, op = [], [], []
    peak = 0
    for s in range(a.warmup + a.steps):
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        t0 = time.perf_counter()
        with autocast():
            loss = F.cross_entropy(step_model(ids), labels)
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        t3 = time.perf_counter()
        if cuda and s >= a.warmup:
            peak = max(peak, torch.cuda.max_memory_allocated(dev))
        print(f"  torch {kind} N={n} step {s + 1}/{a.warmup + a.steps}: {t3 - t0:.3f} s "
              f"(fwd {t1 - t0:.3f}, bwd {t2 - t1:.3f}, opt {t3 - t2:.3f})", file=sys.stderr)
        if s >= a.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            op.append(t3 - t2)
    steps = [f + b + o for f, b, o in zip(fwd, bwd, op)]
    step = statistics.median(steps)
    return dict(params=params, tokens_per_s=a.batch * n / step, fwd_ms=1e3 * statistics.median(fwd),
                bwd_ms=1e3 * statistics.median(bwd), opt_ms=1e3 * statistics.median(op),
                step_ms=1e3 * step, peak_bytes=peak,
                mfu=step_flops(a, kind, n) / step / (a.peak_tflops * 1e12))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ff-mult", type=int, default=4)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--n", default="1024,4096")
    p.add_argument("--kinds", default="simpletron")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--fused", action="store_true", help="fused AdamW")
    p.add_argument("--memory-budget", type=float, default=None,
                   help="skip shapes estimated above this many GiB (st-bench's estimate; "
                        "default 16 on cpu, 120 on cuda)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: forward + loss under torch.autocast(bfloat16)")
    p.add_argument("--tokens-per-step", type=int, default=0,
                   help="if > 0: batch = this / N for every N (overrides --batch)")
    p.add_argument("--peak-tflops", type=float, default=989.0,
                   help="peak TFLOP/s for the mfu column (989: H100/H200 SXM dense bf16)")
    p.add_argument("--sdpa", action="store_true",
                   help="softmax attention as F.scaled_dot_product_attention (no N x N in memory)")
    p.add_argument("--first-row-only", action="store_true",
                   help="the last block computes position 0 only, as st-bench's model does "
                        "(same loss and gradients); default: the plain model")
    a = p.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"torch_reference: --device cuda, but torch {torch.__version__} sees no CUDA device "
                 f"(torch.cuda.is_available() is False; CUDA build: {torch.version.cuda}); use --device cpu")
    if a.memory_budget is None:
        a.memory_budget = 120.0 if a.device == "cuda" else 16.0
    ns = [int(x) for x in a.n.split(",")]
    for n in ns:
        if a.tokens_per_step and (a.tokens_per_step % n or a.tokens_per_step < n):
            sys.exit(f"torch_reference: --tokens-per-step {a.tokens_per_step} is not a positive multiple of N = {n}")
    torch.set_num_threads(a.threads)
    extended = a.device != "cpu" or a.precision != "fp32"
    impl = "torch-compile" if a.compile else "torch-eager"
    if a.first_row_only:
        impl += "-firstrow"
    if a.sdpa:
        impl += "-sdpa"
    print(f"torch_reference: torch {torch.__version__}, {torch.get_num_threads()} threads, {impl}, "
          f"d {a.d}, {a.layers} layers, {a.heads} heads, batch "
          f"{f'{a.tokens_per_step} / N' if a.tokens_per_step else a.batch}, dropout 0"
          + (f", device {a.device}, precision {a.precision}" if extended else ""), file=sys.stderr)
    print("impl,kind,n,d,layers,heads,batch,threads,params,status,tokens_per_s,fwd_ms,bwd_ms,opt_ms,step_ms,"
          + ("peak_bytes,device,precision,step_tflop,mfu,note" if extended else "note"))
    for kind in a.kinds.split(","):
        for n in ns:
            if a.tokens_per_step:
                a.batch = a.tokens_per_step // n
            ext = f"{a.device},{a.precision},{step_flops(a, kind, n) / 1e12:.4f}," if extended else ""
            est = estimate_bytes(a, kind, n)
            if est > a.memory_budget * 2**30:
                note = f"memory: estimated {est / 2**30:.1f} GiB > --memory-budget {a.memory_budget} GiB"
                print(f"torch_reference: {kind} N={n} SKIPPED ({note})", file=sys.stderr)
                print(f"{impl},{kind},{n},{a.d},{a.layers},{a.heads},{a.batch},{a.threads},,skipped,,,,,,"
                      + (f",{ext}," if extended else "") + note)
                continue
            r = run(a, kind, n)
            print(f"{impl},{kind},{n},{a.d},{a.layers},{a.heads},{a.batch},{a.threads},{r['params']},ok,"
                  f"{r['tokens_per_s']:.1f},{r['fwd_ms']:.2f},{r['bwd_ms']:.2f},{r['opt_ms']:.2f},"
                  f"{r['step_ms']:.2f},"
                  + (f"{r['peak_bytes']},{ext}{r['mfu']:.4f}," if extended else ""), flush=True)


if __name__ == "__main__":
    main()
