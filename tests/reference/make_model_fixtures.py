#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures for the model tests (tests/fixtures/model_*.h5).

Run by hand (needs torch and h5py):  python3 tests/reference/make_model_fixtures.py [NAME ...]
(no names: every fixture).
The C++ tests read the files and need no Python. Each fixture holds a model configuration, random
weights, a batch, the logits and loss, every parameter gradient, and the parameters after three
AdamW steps on that batch. The model below is written from docs/design.md, "The model",
independently of the C++ code. Regenerate only on purpose and say why in the commit.
"""
import math
import pathlib
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures"

BASE = dict(task="classification", vocab_size=23, max_len=16, num_classes=5, d_model=16, heads=2,
            layers=2, d_ff=40, d_qkv=0, d_mlp=0, attention="simpletron", scale="sqrt_n",
            causal=0, chunk=4, out_proj=0, norm="pre", ln_eps=1e-6, activation="gelu",
            pooling="cls", tie_embeddings=0, label_smoothing=0.0, positions="learned")

VARIANTS = {
    "simpletron_pad_preln": dict(),
    "simpletron_postln_mean": dict(norm="post", pooling="mean", scale="sqrt_n_dh", out_proj=1,
                                   d_qkv=24, heads=3, activation="gelu_tanh"),
    "simpletron_scale_n_relu": dict(scale="n", activation="relu", layers=1),
    "simpletron_causal_lm": dict(task="lm", causal=1, chunk=4),
    "simpletron_causal_lm_tied": dict(task="lm", causal=1, chunk=5, tie_embeddings=1, norm="post",
                                      label_smoothing=0.1),
    "softmax_pad": dict(attention="softmax"),
    "softmax_lm": dict(attention="softmax", task="lm", causal=1, norm="post"),
    "linear_elu_pad": dict(attention="linear_elu", scale="none"),
    "retrieval": dict(task="retrieval", label_smoothing=0.1, d_mlp=12),
    "simpletron_sinusoidal_lm": dict(task="lm", causal=1, chunk=3, positions="sinusoidal"),
}

# eps 1e-3 keeps the comparison well-conditioned: with a small eps, Adam normalises a gradient
# element that is zero up to rounding (1e-9: e.g. the key bias under softmax, which cancels) into
# a full lr-sized step whose sign is noise, and no two implementations agree on it. Elements
# well above 1e-3 still take the usual Adam step, so the update rule is fully exercised.
OPT = dict(lr=3e-3, beta1=0.9, beta2=0.98, eps=1e-3, weight_decay=0.1)
BATCH, LENGTH = 3, 12


def param_shapes(c):
    d, dq = c["d_model"], c["d_qkv"] or c["d_model"]
    m = c["d_mlp"] or d
    uses_cls = c["task"] != "lm" and c["pooling"] == "cls"
    shapes = [("embed.tokens", (c["vocab_size"], d))]
    if c["positions"] == "learned":
        shapes.append(("embed.positions", (c["max_len"], d)))
    if uses_cls:
        shapes.append(("embed.cls", (d,)))
    if c["norm"] == "post":
        shapes += [("embed.ln.weight", (d,)), ("embed.ln.bias", (d,))]
    for i in range(c["layers"]):
        p = f"blocks.{i}."
        shapes += [(p + "ln1.weight", (d,)), (p + "ln1.bias", (d,))]
        for x in "qkv":
            shapes += [(p + f"attn.{x}.weight", (dq, d)), (p + f"attn.{x}.bias", (dq,))]
        if c["out_proj"]:
            shapes += [(p + "attn.o.weight", (d, dq)), (p + "attn.o.bias", (d,))]
        shapes += [(p + "ln2.weight", (d,)), (p + "ln2.bias", (d,)),
                   (p + "ffn.fc1.weight", (c["d_ff"], d)), (p + "ffn.fc1.bias", (c["d_ff"],)),
                   (p + "ffn.fc2.weight", (d, c["d_ff"])), (p + "ffn.fc2.bias", (d,))]
    if c["norm"] == "pre":
        shapes += [("final_ln.weight", (d,)), ("final_ln.bias", (d,))]
    if c["task"] == "lm":
        if not c["tie_embeddings"]:
            shapes.append(("lm_head.weight", (c["vocab_size"], d)))
    elif c["task"] == "classification":
        shapes += [("head.fc1.weight", (m, d)), ("head.fc1.bias", (m,)),
                   ("head.fc2.weight", (c["num_classes"], m)), ("head.fc2.bias", (c["num_classes"],))]
    else:
        shapes += [("head.fc1.weight", (m, 2 * d)), ("head.fc1.bias", (m,)),
                   ("head.fc2.weight", (m, m)), ("head.fc2.bias", (m,)),
                   ("head.fc3.weight", (2, m)), ("head.fc3.bias", (2,))]
    return shapes


def init_params(c, gen):
    params = {}
    for name, shape in param_shapes(c):
        if name.endswith("ln.weight") or ".ln1.weight" in name or ".ln2.weight" in name or name == "final_ln.weight":
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.3 * torch.randn(shape, generator=gen)
        params[name] = t.float().requires_grad_(True)
    return params


def scale_of(mode, n, dh):
    if mode == "sqrt_n":
        return n.rsqrt()
    if mode == "sqrt_n_dh":
        return (n * dh).rsqrt()
    if mode == "n":
        return 1.0 / n
    return torch.ones_like(n)


def activation(x, kind):
    if kind == "gelu":
        return F.gelu(x)
    if kind == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    return F.relu(x)


def attention(c, P, prefix, x, valid):
    """x (B, N, d), valid (B, N) float."""
    B, N, _ = x.shape
    H = c["heads"]
    dq = c["d_qkv"] or c["d_model"]
    dh = dq // H

    def proj(name):
        y = x @ P[prefix + name + ".weight"].T + P[prefix + name + ".bias"]
        return y.view(B, N, H, dh).transpose(1, 2)  # (B, H, N, dh)

    q, k, v = proj("q"), proj("k"), proj("v")
    vm = valid[:, None, :, None]
    if c["attention"] == "simpletron":
        k, v = k * vm, v * vm
        if c["causal"]:
            t = torch.arange(1, N + 1, dtype=torch.float32)
            s = scale_of(c["scale"], t, dh)  # (N,)
            a = torch.tril(q @ k.transpose(-1, -2))
            y = s[:, None] * (a @ v)
        else:
            n = valid.sum(1)
            s = scale_of(c["scale"], n, dh)[:, None, None, None]
            y = q @ (s * (k.transpose(-1, -2) @ v))
    elif c["attention"] == "softmax":
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        scores = scores.masked_fill(valid[:, None, None, :] == 0, float("-inf"))
        if c["causal"]:
            upper = torch.triu(torch.ones(N, N, dtype=torch.bool), 1)
            scores = scores.masked_fill(upper, float("-inf"))
        y = torch.softmax(scores, -1) @ v
    else:
        fq, fk = F.elu(q) + 1, (F.elu(k) + 1) * vm
        s = fk.transpose(-1, -2) @ v
        z = fk.sum(2, keepdim=True)
        y = (fq @ s) / (fq @ z.transpose(-1, -2) + 1e-6)
    y = y.transpose(1, 2).reshape(B, N, dq)
    if c["out_proj"]:
        y = y @ P[prefix + "o.weight"].T + P[prefix + "o.bias"]
    return y


def encode(c, P, ids):
    B, N = ids.shape
    d, eps = c["d_model"], c["ln_eps"]
    ln = lambda h, name: F.layer_norm(h, (d,), P[name + ".weight"], P[name + ".bias"], eps)
    uses_cls = c["task"] != "lm" and c["pooling"] == "cls"
    if c["positions"] == "learned":
        h = P["embed.tokens"][ids.long()] + P["embed.positions"][:N]
    else:
        h = P["embed.tokens"][ids.long()] + sinusoids(N, d).to(P["embed.tokens"].dtype)
    valid = (ids != 0).float()
    if uses_cls:
        h = torch.cat([P["embed.cls"].expand(B, 1, d), h], 1)
        valid = torch.cat([torch.ones(B, 1), valid], 1)
    if c["norm"] == "post":
        h = ln(h, "embed.ln")
    for i in range(c["layers"]):
        p = f"blocks.{i}."

        def ffn(z):
            z = activation(z @ P[p + "ffn.fc1.weight"].T + P[p + "ffn.fc1.bias"], c["activation"])
            return z @ P[p + "ffn.fc2.weight"].T + P[p + "ffn.fc2.bias"]

        if c["norm"] == "pre":
            h = h + attention(c, P, p + "attn.", ln(h, p + "ln1"), valid)
            h = h + ffn(ln(h, p + "ln2"))
        else:
            h = ln(h + attention(c, P, p + "attn.", h, valid), p + "ln1")
            h = ln(h + ffn(h), p + "ln2")
    if c["norm"] == "pre":
        h = ln(h, "final_ln")
    return h, valid


def sinusoids(n, d):
    """(n, d): PE[p, 2i] = a sin(p w_i), PE[p, 2i + 1] = a cos(p w_i), w_i = 10000^(-2i / d),
    a = 0.02 sqrt(2) (every column's root mean square that of a fresh 0.02-std embedding), in float64."""
    p = torch.arange(n, dtype=torch.float64)[:, None]
    w = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(p * w)
    pe[:, 1::2] = torch.cos(p * w)
    return 0.02 * math.sqrt(2.0) * pe


def pool(c, h, valid):
    if c["pooling"] == "cls":
        return h[:, 0]
    return (h * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)


def forward_loss(c, P, ids, ids2, labels):
    if c["task"] == "lm":
        h, _ = encode(c, P, ids)
        w = P["embed.tokens"] if c["tie_embeddings"] else P["lm_head.weight"]
        logits = h @ w.T
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, c["vocab_size"]), ids[:, 1:].reshape(-1).long(),
                               ignore_index=0, label_smoothing=c["label_smoothing"])
        return logits, loss
    if c["task"] == "classification":
        h, valid = encode(c, P, ids)
        z = F.gelu(pool(c, h, valid) @ P["head.fc1.weight"].T + P["head.fc1.bias"])
        logits = z @ P["head.fc2.weight"].T + P["head.fc2.bias"]
    else:
        B = ids.shape[0]
        h, valid = encode(c, P, torch.cat([ids, ids2], 0))
        pooled = pool(c, h, valid)
        z = torch.cat([pooled[:B], pooled[B:]], 1)
        z = F.relu(z @ P["head.fc1.weight"].T + P["head.fc1.bias"])
        z = F.relu(z @ P["head.fc2.weight"].T + P["head.fc2.bias"])
        logits = z @ P["head.fc3.weight"].T + P["head.fc3.bias"]
    return logits, F.cross_entropy(logits, labels.long(), label_smoothing=c["label_smoothing"])


def decays(name):
    is_ln = any(s in name for s in (".ln1.", ".ln2.", "final_ln.", "embed.ln."))
    return not (is_ln or name.endswith(".bias") or name.startswith("embed."))


def make_ids(gen, c):
    ids = torch.randint(1, c["vocab_size"], (BATCH, LENGTH), generator=gen, dtype=torch.int32)
    lengths = [LENGTH, LENGTH - 5, LENGTH - 2]  # padding at the end of two examples
    for b, n in enumerate(lengths):
        ids[b, n:] = 0
    return ids


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    wanted = set(sys.argv[1:]) or set(VARIANTS)
    unknown = wanted - set(VARIANTS)
    if unknown:
        sys.exit(f"unknown fixture(s) {sorted(unknown)}; known: {sorted(VARIANTS)}")
    for idx, (name, overrides) in enumerate(VARIANTS.items()):
        if name not in wanted:
            continue
        c = dict(BASE, **overrides)
        gen = torch.Generator().manual_seed(1000 + idx)
        P = init_params(c, gen)
        ids = make_ids(gen, c)
        ids2 = make_ids(gen, c) if c["task"] == "retrieval" else None
        classes = 2 if c["task"] == "retrieval" else c["num_classes"]
        labels = torch.randint(0, classes, (BATCH,), generator=gen, dtype=torch.int32)
        names = [n for n, _ in param_shapes(c)]
        initial = {n: P[n].detach().clone() for n in names}

        logits, loss = forward_loss(c, P, ids, ids2, labels)
        loss.backward()
        grads = {n: P[n].grad.detach().clone() for n in names}

        groups = [{"params": [P[n] for n in names if decays(n)], "weight_decay": OPT["weight_decay"]},
                  {"params": [P[n] for n in names if not decays(n)], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=OPT["lr"], betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"])
        for p in P.values():
            p.grad = None
        for _ in range(3):
            opt.zero_grad()
            _, l = forward_loss(c, P, ids, ids2, labels)
            l.backward()
            opt.step()

        path = OUT / f"model_{name}.h5"
        with h5py.File(path, "w") as f:
            f.attrs["config"] = ";".join(f"{k}={v}" for k, v in c.items())
            f.attrs["optimizer"] = ";".join(f"{k}={v}" for k, v in OPT.items())
            f.attrs["param_names"] = ";".join(names)
            f["inputs/ids"] = ids.numpy()
            if ids2 is not None:
                f["inputs/ids2"] = ids2.numpy()
            f["inputs/labels"] = labels.numpy()
            f["expected/logits"] = logits.detach().numpy()
            f["expected/loss"] = np.float32(loss.item())
            for n in names:
                f[f"params/{n}"] = initial[n].numpy()
                f[f"grads/{n}"] = grads[n].numpy()
                f[f"after/{n}"] = P[n].detach().numpy()
        print(f"{path.name}: loss {loss.item():.6f}, {len(names)} parameters")


if __name__ == "__main__":
    main()
