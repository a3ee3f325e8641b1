"""sentence-transformers folders (``modules.json``): read by the library itself (optional extra).

A folder's own modules decide the embedding: its pooling mode (``1_Pooling``), its normalisation
(``2_Normalize``) and its ``max_seq_length`` (``sentence_bert_config.json``), so latentviz never
re-implements them: the latent is ``SentenceTransformer(folder).encode(texts)`` on each batch the
engine reads. Nothing is downloaded, and without ``--trust-checkpoint`` no code the folder chooses
runs: every class ``modules.json`` names must be one of sentence-transformers' own (versions before
6 imported any class a local folder named), and no remote model code loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from latentviz._optional import require
from latentviz.errors import InputError, UnsafeCheckpointError
from latentviz.models._transformers import _quiet


class SentenceEncoder(nn.Module):
    """A ``SentenceTransformer`` whose forward is its own ``encode`` of one batch of texts."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, texts):
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise InputError(
                "a sentence-transformers folder encodes texts: give --data a .txt file (one text a line) "
                "or a table with --text-column"
            )
        return self.model.encode(
            list(texts), batch_size=max(1, len(texts)), convert_to_tensor=True, show_progress_bar=False
        )


def load_sentence_transformer(path: Path, *, trust: bool) -> tuple[nn.Module, dict]:
    """The folder as a :class:`SentenceEncoder`, and what the manifest records (pooling, normalize, max_seq_length)."""
    if not trust:
        _check_module_classes(path)
    library = require("sentence_transformers", purpose=f"the sentence-transformers folder {path}")
    _quiet(require("transformers", purpose=f"the sentence-transformers folder {path}"))
    try:
        model = library.SentenceTransformer(str(path), device="cpu", local_files_only=True, trust_remote_code=trust)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"checkpoint {path}: sentence-transformers could not load this folder ({first})") from exc
    return SentenceEncoder(model), describe(model)


def _check_module_classes(path: Path) -> None:
    """Refuse a modules.json that names a class outside sentence-transformers: importing it would run its code."""
    try:
        entries = json.loads((path / "modules.json").read_text())
        types = [str(entry["type"]) for entry in entries]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"checkpoint {path}: modules.json is not a sentence-transformers module list ({exc})") from exc
    foreign = [t for t in types if not t.startswith("sentence_transformers.")]
    if foreign:
        raise UnsafeCheckpointError(
            f"checkpoint {path}: modules.json names classes outside sentence-transformers "
            f"({', '.join(foreign)}), whose code would run when loaded; nothing was run. "
            "If you trust its source, pass --trust-checkpoint"
        )


def describe(model) -> dict:
    """The folder's pooling mode, whether it normalises, and the token limit, as the loaded modules say."""
    names = [type(m).__name__ for m in model]
    pooling = next((m for m in model if type(m).__name__ == "Pooling"), None)
    mode = None
    if pooling is not None:  # sentence-transformers 6 has pooling_mode; earlier versions get_pooling_mode_str()
        mode = getattr(pooling, "pooling_mode", None) or pooling.get_pooling_mode_str()
        mode = mode if isinstance(mode, str) else "+".join(mode)
    return {
        "sentence_transformers": {
            "modules": names,
            "pooling": mode,
            "normalize": "Normalize" in names,
            "max_seq_length": model.max_seq_length,
        }
    }
