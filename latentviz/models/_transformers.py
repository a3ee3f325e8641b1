"""transformers model folders (BERT-like text encoders) with their own tokenizer (optional extra).

The model's forward is called with the tokenized batch (not its ``encoder`` attribute, which is
only a part of it) and the latent is pooled from ``last_hidden_state`` (see
:mod:`latentviz.models._pooling`). Inputs may be texts (tokenized here, with the folder's own
tokenizer), a tensor of token ids (padding found from the tokenizer's pad id) or a dict with
``input_ids`` and ``attention_mask``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from latentviz._optional import require
from latentviz.errors import InputError, UnsafeCheckpointError

DEFAULT_MAX_LENGTH = 512


def _quiet(transformers) -> None:
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _failure(path: Path, what: str, exc: Exception) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"checkpoint {path}: transformers could not load the {what} in this folder ({first})")


def load_text_model(path: Path, *, trust: bool) -> nn.Module:
    """``AutoModel.from_pretrained`` on a local folder; custom model code runs only when trusted."""
    transformers = require("transformers", purpose=f"the transformers folder {path}")
    _quiet(transformers)
    try:
        return transformers.AutoModel.from_pretrained(str(path), local_files_only=True, trust_remote_code=trust)
    except pickle.UnpicklingError:  # torch.load(weights_only=True) met a pickled object that is not a tensor
        raise UnsafeCheckpointError(
            f"checkpoint {path}: its .bin weights hold pickled Python objects besides tensors, which are never "
            "unpickled (that could run code from the file); save the weights as safetensors "
            "(model.save_pretrained(folder) with a recent transformers) where the model was trained"
        ) from None
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        if not trust and "trust_remote_code" in str(exc):  # only the folder's own Python code could build it
            raise UnsafeCheckpointError(
                f"checkpoint {path}: its config's auto_map names model code in the folder, which runs only when "
                "trusted, so nothing was run. If you trust its source, pass --trust-checkpoint"
            ) from None
        raise _failure(path, "model", exc) from exc


class Tokenize:
    """Turn a batch of texts (or token ids) into the model's keyword inputs, on the model's device."""

    def __init__(self, tokenizer, module: nn.Module, max_length: int):
        self.tokenizer, self.module, self.max_length = tokenizer, module, max_length

    def __call__(self, x) -> dict:
        device = next(self.module.parameters()).device
        if isinstance(x, torch.Tensor):
            pad = self.tokenizer.pad_token_id
            x = {"input_ids": x} if pad is None else {"input_ids": x, "attention_mask": (x != pad).long()}
        elif not isinstance(x, dict):
            x = dict(
                self.tokenizer(list(x), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            )
        return {k: v.to(device) for k, v in x.items()}


def adapter_options(path: Path, module: nn.Module, *, max_length: int | None, trust: bool) -> dict:
    """The :class:`LatentModel` hooks for a text encoder: tokenize, call forward."""
    transformers = require("transformers", purpose=f"the transformers folder {path}")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=trust
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise _failure(path, "tokenizer", exc) from exc
    limit = getattr(module.config, "max_position_embeddings", None) or DEFAULT_MAX_LENGTH
    if max_length is not None and max_length > limit:
        raise InputError(f"--max-length {max_length}: the model takes at most {limit} tokens")
    return {
        "input_transform": Tokenize(tokenizer, module, max_length or min(limit, DEFAULT_MAX_LENGTH)),
        "forward_only": True,
    }
