#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/.

Each target gets valid inputs made by our own programs (so that mutations start from files that
reach deep into the code) and the hostile inputs that once crashed, hung or misled a program
(each named after what it does). The corpus is committed; rerun this script only to rebuild it.

  python3 tests/fuzz/make_corpus.py BUILD_DIR     # BUILD_DIR holds launch/st-data, st-train

Needs h5py and numpy (pip install h5py) for the hand-made HDF5 files.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
ROOT = os.path.dirname(os.path.dirname(HERE))


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def run(*cmd, cwd=None):
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, ST_PROGRESS="plain"))


# ---- shards -------------------------------------------------------------------------------
def shard_file(path, attrs, inputs=None, labels=None, inputs2=None, hook=None):
    """A shard in our format with the given root attributes and datasets (None: absent)."""
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        for name, arr in (("inputs", inputs), ("inputs2", inputs2), ("labels", labels)):
            if arr is not None:
                arr = np.asarray(arr, dtype=np.int32)
                f.create_dataset(name, data=arr, chunks=(min(len(arr), 8),) + arr.shape[1:])
        if hook:
            hook(f)
    return read(path)


def base_attrs(**over):
    a = {"format": "simpletron-shard", "version": np.int64(1), "task": "listops",
         "vocab_size": np.int64(20), "num_classes": np.int64(10), "seq_len": np.int64(6),
         "vocabulary": json.dumps([str(i) for i in range(20)])}
    a.update(over)
    return a


def shards(st_data, tmp):
    gen = os.path.join(tmp, "gen")
    run(st_data, "listops", "--out", gen, "--train", "24", "--val", "0", "--test", "0",
        "--max-len", "12", "--min-len", "4", "--max-depth", "2", "--max-args", "3", "--seed", "1",
        "--quiet")
    out("shard", "listops.h5", read(os.path.join(gen, "train-00000.h5")))
    tsv = os.path.join(tmp, "pairs.tsv")
    with open(tsv, "w") as f:
        f.write("1\ta\tb\tfirst doc\tsecond doc\n0\tc\td\tthird\tfourth one\n")
    run(st_data, "retrieval", "--input", tsv, "--out", os.path.join(tmp, "pair"), "--max-len", "12",
        "--quiet")
    out("shard", "retrieval-pair.h5", read(os.path.join(tmp, "pair-00000.h5")))
    txt = os.path.join(tmp, "prose.txt")
    with open(txt, "w") as f:
        f.write("Linear attention keeps a d by d state. " * 4)
    run(st_data, "lm", "--input", txt, "--out", os.path.join(tmp, "lm"), "--seq-len", "16", "--quiet")
    out("shard", "lm.h5", read(os.path.join(tmp, "lm-00000.h5")))

    p = os.path.join(tmp, "h.h5")
    ins, labs = np.arange(24).reshape(4, 6) % 20, np.array([1, 2, 3, 4])
    out("shard", "handmade-valid.h5", shard_file(p, base_attrs(), ins, labs))
    out("shard", "vocab-size-2pow62.h5", shard_file(p, base_attrs(vocab_size=np.int64(2**62)), ins, labs))
    out("shard", "num-classes-2pow62.h5", shard_file(p, base_attrs(num_classes=np.int64(2**62)), ins, labs))
    out("shard", "vocab-size-int64-max.h5",
        shard_file(p, base_attrs(vocab_size=np.int64(2**63 - 1)), ins, labs))
    out("shard", "num-classes-int32-max.h5",
        shard_file(p, base_attrs(num_classes=np.int64(2**31 - 1)), ins, labs))
    out("shard", "seq-len-negative.h5", shard_file(p, base_attrs(seq_len=np.int64(-6)), ins, labs))
    out("shard", "vocabulary-nested-10000.h5",
        shard_file(p, base_attrs(vocabulary="[" * 10000 + "]" * 10000), ins, labs))
    out("shard", "vocabulary-wrong-types.h5",
        shard_file(p, base_attrs(vocabulary='[1, null, true, "x", 2.5]'), ins, labs))
    out("shard", "vocabulary-not-an-array.h5", shard_file(p, base_attrs(vocabulary='{"a": 1}'), ins, labs))
    out("shard", "token-out-of-range.h5", shard_file(p, base_attrs(vocab_size=np.int64(5)), ins, labs))
    out("shard", "label-negative.h5", shard_file(p, base_attrs(), ins, -labs))
    out("shard", "labels-count-differs.h5", shard_file(p, base_attrs(), ins, labs[:3]))
    out("shard", "inputs-float.h5", shard_file(p, base_attrs(), None, labs,
                                               hook=lambda f: f.create_dataset("inputs", data=ins.astype(np.float32))))

    def sparse(f):  # 2e9 rows claimed, none written: chunks that do not exist
        f.create_dataset("inputs", shape=(2_000_000_000, 6), dtype=np.int32, chunks=(1024, 6))
        f.create_dataset("labels", shape=(2_000_000_000,), dtype=np.int32, chunks=(1024,))
    out("shard", "rows-2e9-unwritten.h5", shard_file(p, base_attrs(), hook=sparse))

    raw = os.path.join(tmp, "raw.bin")
    with open(raw, "wb") as f:
        f.write(b"root:x:0:0:root:/root:/bin/bash\n" * 4)

    def external(f):  # raw bytes of another file read as token ids
        f.create_dataset("inputs", shape=(4, 6), dtype=np.int32, external=[("/etc/passwd", 0, 96)])
        f.create_dataset("labels", data=labs.astype(np.int32))
    out("shard", "external-storage-etc-passwd.h5", shard_file(p, base_attrs(), hook=external))

    def dev_zero(f):  # endless zeros as token ids
        f.create_dataset("inputs", shape=(4, 6), dtype=np.int32, external=[("/dev/zero", 0, 96)])
        f.create_dataset("labels", data=labs.astype(np.int32))
    out("shard", "external-storage-dev-zero.h5", shard_file(p, base_attrs(), hook=dev_zero))

    def link(f):
        f["inputs"] = h5py.ExternalLink("/etc/passwd", "/inputs")
        f.create_dataset("labels", data=labs.astype(np.int32))
    out("shard", "external-link.h5", shard_file(p, base_attrs(), hook=link))

    other = os.path.join(tmp, "other.h5")
    with h5py.File(other, "w") as g:
        g.create_dataset("x", data=ins.astype(np.int32))

    def virtual(f):
        layout = h5py.VirtualLayout(shape=(4, 6), dtype=np.int32)
        layout[:] = h5py.VirtualSource(other, "x", shape=(4, 6))
        f.create_virtual_dataset("inputs", layout)
        f.create_dataset("labels", data=labs.astype(np.int32))
    out("shard", "virtual-dataset.h5", shard_file(p, base_attrs(), hook=virtual))
    out("shard", "not-hdf5.h5", b"simpletron-shard\n")
    out("shard", "empty.h5", b"")


# ---- safetensors --------------------------------------------------------------------------
def safetensors(header, data):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def safetensors_corpus():
    f32 = np.arange(6, dtype=np.float32).tobytes()
    f16 = np.arange(4, dtype=np.float16).tobytes()
    bf16 = (np.arange(4, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    f64 = np.arange(2, dtype=np.float64).tobytes()
    data = f32 + f16 + bf16 + f64
    o = [0, len(f32), len(f32) + len(f16), len(f32) + len(f16) + len(bf16), len(data)]
    header = {"__metadata__": {"format": "pt"},
              "a.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [o[0], o[1]]},
              "b.half": {"dtype": "F16", "shape": [4], "data_offsets": [o[1], o[2]]},
              "c.bf16": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [o[2], o[3]]},
              "d.double": {"dtype": "F64", "shape": [2], "data_offsets": [o[3], o[4]]}}
    out("safetensors", "valid-four-dtypes.safetensors", safetensors(header, data))
    bad = dict(header, **{"a.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                          "e.overlap": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}})
    out("safetensors", "overlapping-offsets.safetensors", safetensors(bad, data))
    out("safetensors", "fractional-offsets.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0.5, 8.5]}}, f32))
    out("safetensors", "shape-is-a-string.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": "2x3", "data_offsets": [0, 24]}}, f32))
    out("safetensors", "shape-overflow.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": [2**62, 4], "data_offsets": [0, 24]}}, f32))
    out("safetensors", "unknown-dtype.safetensors", safetensors(
        {"a": {"dtype": "Q7", "shape": [6], "data_offsets": [0, 24]}}, f32))
    out("safetensors", "offsets-past-end.safetensors", safetensors(
        {"a": {"dtype": "F32", "shape": [6], "data_offsets": [0, 2**40]}}, f32))
    out("safetensors", "header-length-huge.safetensors", struct.pack("<Q", 2**63) + b"{}")
    out("safetensors", "header-nested.safetensors", struct.pack("<Q", 4000) + b"[" * 4000)
    out("safetensors", "header-not-json.safetensors", struct.pack("<Q", 5) + b"{oops")


# ---- configs ------------------------------------------------------------------------------
def configs():
    for name in ("quickstart.yaml", "lra.yaml"):
        out("config", name, read(os.path.join(ROOT, "configs", name)))
    for sub in ("lra", "lm"):
        d = os.path.join(ROOT, "configs", sub)
        for name in sorted(os.listdir(d))[:3]:
            out("config", f"{sub}-{name}", read(os.path.join(d, name)))
    out("config", "alias-bomb.yaml", b"model: {task: &a [x, x, x, x, x, x, x, x],\n"
        b"  attention: &b [*a, *a, *a, *a, *a, *a, *a, *a], pooling: &c [*b, *b, *b, *b, *b, *b, *b, *b],\n"
        b"  layers: &d [*c, *c, *c, *c, *c, *c, *c, *c]}\n")
    out("config", "nested-10000.yaml", b"[" * 10000)
    out("config", "d-model-2pow62.yaml", b"model:\n  d_model: 4611686018427387904\n")
    out("config", "max-len-2pow62.yaml", b"model:\n  max_len: 4611686018427387904\n")
    out("config", "layers-1e9.yaml", b"model:\n  layers: 1000000000\n")
    out("config", "unknown-key.yaml", b"model:\n  d_modle: 64\n")
    out("config", "wrong-type.yaml", b"train:\n  steps: [1, 2]\noptimizer: 3\n")
    out("config", "lr-nan.yaml", b"optimizer:\n  lr: .nan\n")
    out("config", "complex-key.yaml", b"model:\n  d_model: 64\n? dropout: 0.0\npooling: cls\n")
    out("config", "suite-hostile.yaml", b"suite:\n  run_dir: r\n  tasks:\n"
        b"    - {name: [a, b], config: configs/quickstart.yaml, published: abc}\n    - {? [x]: 1}\n")
    out("config", "suite-root-list.yaml", b"- suite\n- {suite: 1}\n")


# ---- TSV converters (first byte: 0 listops-tsv, 1 text, 2 retrieval) ------------------------
def tsv():
    out("tsv", "listops.tsv", b"\x00Source\tTarget\n( ( [MAX 2 ) 9 ] )\t9\n"
        b"( ( ( [SM 1 ) 2 ) ] )\t3\n( ( [MIN ( ( [MED 4 ) 7 ) ] ) 5 ] )\t5\n")
    out("tsv", "listops-wrong-label.tsv", b"\x00Source\tTarget\n( ( [MAX 2 ) 9 ] )\t4\n")
    out("tsv", "listops-unknown-token.tsv", b"\x00Source\tTarget\n( ( [FOO 2 ) 9 ] )\t9\n")
    out("tsv", "text.tsv", b"\x01" + b"1\tA fine film.\n0\tNot good\twith a tab.\n")
    out("tsv", "text-header.tsv", b"\x05" + b"label\ttext\n1\tyes\n")
    out("tsv", "text-label-2pow63.tsv", b"\x01" + b"9223372036854775808\tbig\n")
    out("tsv", "text-label-int32-max.tsv", b"\x01" + b"2147483647\tbig\n")
    out("tsv", "text-label-int64-max.tsv", b"\x01" + b"9223372036854775807\tbig\n")
    out("tsv", "text-label-negative.tsv", b"\x01" + b"-1\tneg\n")
    out("tsv", "text-no-tab.tsv", b"\x01" + b"just text\n\n\n")
    out("tsv", "retrieval.tsv", b"\x02" + b"1\tp1\tp2\tfirst paper\tsecond paper\n"
        b"0\tp3\tp4\tthird\tfourth\n")
    out("tsv", "retrieval-short-row.tsv", b"\x0a" + b"1\tp1\tp2\tonly one text\n")


# ---- PNG decoder and listings (first byte: even png, odd listing) --------------------------
def png(width, height, color_type, bit_depth, raw_rows, palette=None):
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    body = b"".join(b"\x00" + row for row in raw_rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        data += chunk(b"PLTE", palette)
    return data + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


def pngs():
    out("png", "gray8.png", b"\x00" + png(4, 3, 0, 8, [bytes([16 * i + j for j in range(4)]) for i in range(3)]))
    out("png", "rgb8.png", b"\x00" + png(2, 2, 2, 8, [bytes(range(6)), bytes(range(6, 12))]))
    out("png", "gray16.png", b"\x00" + png(2, 2, 0, 16, [b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"]))
    out("png", "rgba8.png", b"\x00" + png(1, 2, 6, 8, [b"\x10\x20\x30\x80", b"\x40\x50\x60\xff"]))
    out("png", "palette.png", b"\x00" + png(2, 1, 3, 8, [b"\x00\x01"], palette=b"\x00\x00\x00\xff\xff\xff"))
    out("png", "gray1.png", b"\x00" + png(8, 1, 0, 1, [b"\xa5"]))
    out("png", "huge-dimensions.png", b"\x00" + png(2**31 - 1, 2**31 - 1, 0, 8, [b"\x00"]))
    out("png", "truncated.png", b"\x00" + png(4, 4, 0, 8, [b"\x00" * 4] * 4)[:40])
    out("png", "listing.tsv", b"\x01" + b"imgs/0/sample_0.png\t1\nimgs/0/sample_1.png\t0\n")
    out("png", "listing-bad-label.tsv", b"\x01" + b"a.png\t7\nb.png\n")


# ---- checkpoints --------------------------------------------------------------------------
def checkpoints(st_data, st_train, tmp):
    data = os.path.join(tmp, "ck-data")
    run(st_data, "listops", "--out", data, "--train", "32", "--val", "8", "--test", "8", "--max-len",
        "12", "--min-len", "4", "--max-depth", "2", "--max-args", "3", "--seed", "1", "--quiet")
    run_dir = os.path.join(tmp, "ck-run")
    run(st_train, os.path.join(ROOT, "configs", "quickstart.yaml"), "--set", f"run_dir={run_dir}",
        "--set", f"data.train={data}/train-*.h5", "--set", f"data.val={data}/val-*.h5",
        "--set", f"data.test={data}/test-*.h5", "--set", "model.d_model=8", "--set", "model.heads=2",
        "--set", "model.layers=1", "--set", "model.d_ff=8", "--set", "train.steps=2",
        "--set", "train.eval_every=2", "--set", "train.checkpoint_every=2", "--set", "data.batch_size=4")
    good = read(os.path.join(run_dir, "checkpoints", "step-000000002.h5"))
    out("checkpoint", "tiny-step-2.h5", good)
    flipped = bytearray(good)
    for i in range(16):  # bit flips spread over the file's second half (the data area)
        pos = len(good) // 2 + i * (len(good) // 40)
        flipped[pos] ^= 1 << (i % 8)
    out("checkpoint", "tiny-16-bit-flips.h5", bytes(flipped))
    out("checkpoint", "tiny-truncated.h5", good[: len(good) // 3])


# ---- structure-aware shards (fuzz_shard_fields decodes bytes into a shard's contents) --------
def shard_fields():
    out("shard_fields", "zeros-valid-shard.bin", bytes(256))
    rng = __import__("random").Random(1)
    for i in range(4):  # zeros with a few bytes set: near-valid shards
        b = bytearray(256)
        for _ in range(6):
            b[rng.randrange(64)] = rng.randrange(256)
        out("shard_fields", f"near-valid-{i}.bin", bytes(b))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    bin_dir = os.path.join(sys.argv[1], "launch")
    st_data, st_train = os.path.join(bin_dir, "st-data"), os.path.join(bin_dir, "st-train")
    shutil.rmtree(CORPUS, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        shards(st_data, tmp)
        shard_fields()
        safetensors_corpus()
        configs()
        tsv()
        pngs()
        checkpoints(st_data, st_train, tmp)
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print(f"{t}: {len(files)} inputs, {size} bytes")


if __name__ == "__main__":
    main()
