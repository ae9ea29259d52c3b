#!/usr/bin/env python3
"""Softmax attention alone in PyTorch, forward + backward, per sequence length: the baseline for
st-bench-attention (SimpleTRON attention). q, k, v (B, H, N, d_h) in --dtype (bf16 by default),
y = F.scaled_dot_product_attention(q, k, v) (non-causal, no mask), backward from a fixed random dy
writes dq, dk, dv. Each --backends entry restricts SDPA with torch.nn.attention.sdpa_kernel:
flash (FLASH_ATTENTION), cudnn (CUDNN_ATTENTION), efficient (EFFICIENT_ATTENTION), math (MATH;
the one that also runs on the CPU). A backend that this torch or device lacks, or that rejects the
shape, gives a row with status skipped and the reason. Times: host timings around
torch.cuda.synchronize(), medians over --steps after --warmup. FLOPs (tflops column): forward
4 B H N^2 d_h, backward 2.5x the forward (recomputation included), as flash attention counts them.
Output: CSV in st-bench-attention's columns (impl,b,h,n,dh,device,precision,threads,status,fwd_ms,
bwd_ms,total_ms,tflops,note; threads: PyTorch's CPU threads); progress to stderr.

  python3 bench/torch_attention.py --device cuda --heads 16 --head-dim 64 --tokens 65536 \\
      --n 1024,2048,4096,16384,65536 --backends flash,cudnn
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

BACKENDS = {"flash": "FLASH_ATTENTION", "cudnn": "CUDNN_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
            "math": "MATH"}


def sdpa_backend(name):
    """The SDPBackend member for name, or (None, reason) when this torch has none."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: F401
    except ImportError as e:
        return None, f"torch {torch.__version__} has no torch.nn.attention.sdpa_kernel ({e})"
    member = getattr(SDPBackend, BACKENDS[name], None)
    if member is None:
        return None, f"torch {torch.__version__} has no SDPBackend.{BACKENDS[name]}"
    return member, ""


def run(a, backend, B, N, dtype, dev):
    from torch.nn.attention import sdpa_kernel
    g = torch.Generator(device="cpu").manual_seed(1)
    shape = (B, a.heads, N, a.head_dim)  # (B, H, N, d_h)
    q, k, v, dy = (torch.randn(shape, generator=g).to(dev, dtype) for _ in range(4))
    for t in (q, k, v):
        t.requires_grad_(True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    fwd, bwd = [], []
    with sdpa_kernel([backend]):
        for i in range(a.warmup + a.steps):
            q.grad = k.grad = v.grad = None
            sync()
            t0 = time.perf_counter()
            y = F.scaled_dot_product_attention(q, k, v)
            sync()
            t1 = time.perf_counter()
            y.backward(dy)
            sync()
            t2 = time.perf_counter()
            if i >= a.warmup:
                fwd.append(t1 - t0)
                bwd.append(t2 - t1)
    total = statistics.median(f + b for f, b in zip(fwd, bwd))
    flops = 3.5 * 4 * B * a.heads * N * N * a.head_dim
    return statistics.median(fwd), statistics.median(bwd), total, flops / total / 1e12


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--tokens", type=int, default=0, help="if > 0: B = tokens / N for every N")
    p.add_argument("--n", default="1024,2048,4096,16384,65536")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    p.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16",
                   help="of q, k, v (flash and cuDNN need bf16 or fp16)")
    p.add_argument("--backends", default="flash,cudnn",
                   help="comma separated: " + ", ".join(BACKENDS))
    p.add_argument("--threads", type=int, default=2, help="CPU threads (--device cpu)")
    a = p.parse_args()
    names = a.backends.split(",")
    for name in names:
        if name not in BACKENDS:
            sys.exit(f"torch_attention: --backends: unknown backend '{name}' (valid: {', '.join(BACKENDS)})")
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"torch_attention: --device cuda, but torch {torch.__version__} sees no CUDA device "
                 f"(torch.cuda.is_available() is False; CUDA build: {torch.version.cuda}); use --device cpu "
                 f"--backends math")
    ns = [int(x) for x in a.n.split(",")]
    for n in ns:
        if n < 1 or (a.tokens and (a.tokens % n or a.tokens < n)):
            sys.exit(f"torch_attention: N = {n} must be >= 1 and divide --tokens {a.tokens}")
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[a.dtype]
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"torch_attention: torch {torch.__version__} on {where}, {a.dtype}, H {a.heads}, d_h {a.head_dim}, "
          f"{a.warmup} warm-up + {a.steps} measured repetitions", file=sys.stderr)
    print("impl,b,h,n,dh,device,precision,threads,status,fwd_ms,bwd_ms,total_ms,tflops,note")
    for name in names:
        backend, reason = sdpa_backend(name)
        for n in ns:
            B = a.tokens // n if a.tokens else a.batch
            head = f"{name},{B},{a.heads},{n},{a.head_dim},{a.device},{a.dtype},{torch.get_num_threads()}"
            if backend is None:
                print(f"{head},skipped,,,,,{reason}", flush=True)
                continue
            try:
                f, b, t, tf = run(a, backend, B, n, dtype, dev)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
                msg = str(e).split("\n")[0].replace(",", ";")[:200]
                print(f"torch_attention: {name} N={n} SKIPPED ({msg})", file=sys.stderr)
                print(f"{head},skipped,,,,,{name} failed: {msg}", flush=True)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            print(f"torch_attention: {name} B={B} N={n}: fwd {1e3 * f:.3f} ms, bwd {1e3 * b:.3f} ms, "
                  f"total {1e3 * t:.3f} ms", file=sys.stderr)
            print(f"{head},ok,{1e3 * f:.4f},{1e3 * b:.4f},{1e3 * t:.4f},{tf:.2f},", flush=True)


if __name__ == "__main__":
    main()
