"""Word vectors for ``latentviz import``, read with gensim's own loaders.

Forms: gensim ``Word2Vec.save`` (``.model``) and ``KeyedVectors.save`` (``.kv``), which are
pickles and so load only with ``--trust-checkpoint``; the word2vec binary format (``.bin``); the
word2vec text format (``.txt``/``.vec`` with a "count dimension" header line); and GloVe text
files (the same rows without the header).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from latentviz.errors import InputError, UnsafeCheckpointError

PICKLED = (".model", ".kv")
SUFFIXES = (*PICKLED, ".bin", ".txt", ".vec")


def read_word_vectors(path: Path, *, trust: bool = False) -> tuple[np.ndarray, list[str], str]:
    """(vectors (n, d) float32, words in the vectors' order, the format's name) of a word-vector file."""
    from latentviz._optional import require

    require("gensim", purpose=f"LATENTS {path} (word vectors)")
    from gensim.models import KeyedVectors
    from gensim.utils import SaveLoad

    suffix = path.suffix.lower()
    if suffix in PICKLED:
        if not trust:
            raise UnsafeCheckpointError(
                f"LATENTS {path}: a gensim {suffix} file is a pickle, which can run code when loaded; pass "
                "--trust-checkpoint if you trust its source, or save it as kv.save_word2vec_format(PATH, binary=True)"
            )
        form, load = f"gensim {suffix}", lambda: SaveLoad.load(str(path))
    elif suffix == ".bin":
        form, load = "word2vec binary", lambda: KeyedVectors.load_word2vec_format(str(path), binary=True)
    else:
        header = _has_header(path)
        form = "word2vec text" if header else "GloVe text"
        load = functools.partial(KeyedVectors.load_word2vec_format, str(path), binary=False, no_header=not header)
    try:
        vectors = load()
    except Exception as exc:
        hint = " (a torch checkpoint .bin is a model: give it to 'latentviz encode')" if suffix == ".bin" else ""
        raise InputError(f"LATENTS {path}: not a readable {form} file{hint} ({type(exc).__name__}: {exc})") from exc
    vectors = getattr(vectors, "wv", vectors)  # a Word2Vec / FastText / Doc2Vec model holds its KeyedVectors
    if not isinstance(vectors, KeyedVectors):
        raise InputError(
            f"LATENTS {path}: holds a {type(vectors).__name__}, not word vectors (KeyedVectors or a model with .wv)"
        )
    return np.asarray(vectors.vectors, dtype=np.float32), [str(w) for w in vectors.index_to_key], form


def _has_header(path: Path) -> bool:
    """Whether a text file starts with word2vec's "count dimension" line (GloVe files do not)."""
    with open(path, "rb") as handle:
        first = handle.readline().split()
    return len(first) == 2 and all(part.isdigit() for part in first)
