"""sentence-transformers folders (``modules.json``): read by the library itself (optional extra).

A folder's own modules decide the embedding: its pooling mode (``1_Pooling``), its normalisation
(``2_Normalize``) and its ``max_seq_length`` (``sentence_bert_config.json``), so latentviz never
re-implements them: the latent is ``SentenceTransformer(folder).encode(texts)`` on each batch the
engine reads. No remote code runs and nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from latentviz._optional import require
from latentviz.errors import InputError
from latentviz.models._transformers import _quiet


class SentenceEncoder(nn.Module):
    """A ``SentenceTransformer`` whose forward is its own ``encode`` of one batch of texts."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, texts):
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise InputError("a sentence-transformers folder encodes texts: give --data a .txt file (one text a line) "
                             "or a table with --text-column")
        return self.model.encode(list(texts), batch_size=max(1, len(texts)), convert_to_tensor=True,
                                 show_progress_bar=False)


def load_sentence_transformer(path: Path) -> tuple[nn.Module, dict]:
    """The folder as a :class:`SentenceEncoder`, and what the manifest records (pooling, normalize, max_seq_length)."""
    library = require("sentence_transformers", purpose=f"the sentence-transformers folder {path}")
    _quiet(require("transformers", purpose=f"the sentence-transformers folder {path}"))
    try:
        model = library.SentenceTransformer(str(path), device="cpu", local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"checkpoint {path}: sentence-transformers could not load this folder ({first})") from exc
    return SentenceEncoder(model), describe(model)


def describe(model) -> dict:
    """The folder's pooling mode, whether it normalises, and the token limit, as the loaded modules say."""
    names = [type(m).__name__ for m in model]
    pooling = next((m for m in model if type(m).__name__ == "Pooling"), None)
    mode = None
    if pooling is not None:  # sentence-transformers 6 has pooling_mode; earlier versions get_pooling_mode_str()
        mode = getattr(pooling, "pooling_mode", None) or pooling.get_pooling_mode_str()
        mode = mode if isinstance(mode, str) else "+".join(mode)
    return {"sentence_transformers": {"modules": names, "pooling": mode, "normalize": "Normalize" in names,
                                      "max_seq_length": model.max_seq_length}}
