"""timm ``save_for_hf`` folders (``config.json`` with ``architecture`` + weights).

timm builds the network from its architecture name (``timm.create_model``), then the folder's
weights load into it as any state dict does. timm needs torchvision, so where it is not installed
the refusal says so and names the equivalent command on the weights file.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from latentviz.errors import InputError
from latentviz.models._formats import build_factory, load_pickle, load_safetensors, load_state_dict_into

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def factory_kwargs(config: dict) -> dict:
    """``timm.create_model`` keyword arguments that rebuild the saved network."""
    kwargs = {"model_name": config["architecture"], **(config.get("model_args") or {})}
    if config.get("num_classes") is not None:
        kwargs["num_classes"] = config["num_classes"]
    return kwargs


def load_timm_folder(path: Path, *, strict: bool = True) -> tuple[nn.Module, dict]:
    """The network ``timm.create_model`` builds for the folder's config, with the folder's weights."""
    config = json.loads((path / "config.json").read_text())
    weights = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), None)
    if weights is None:
        raise InputError(f"checkpoint {path}: a timm folder without weights; expected {' or '.join(WEIGHT_FILES)}")
    kwargs = factory_kwargs(config)
    try:
        import timm  # noqa: F401  (build_factory imports it again by name)
    except ImportError:
        raise InputError(
            f"checkpoint {path}: a timm folder ({config['architecture']}) needs timm to build the "
            f"network: pip install timm; then the folder loads as is, as does its weights file with "
            f"latentviz encode {weights} --model timm:create_model --model-kwargs "
            f"'{json.dumps(kwargs)}'"
        ) from None
    module, _ = build_factory("timm:create_model", kwargs)
    state = load_safetensors(weights) if weights.suffix == ".safetensors" else load_pickle(weights, trust=False)
    record = {"timm": kwargs, **load_state_dict_into(module, state, strict=strict)}
    cfg = config.get("pretrained_cfg") or {}
    if cfg.get("mean") and cfg.get("std"):  # what timm's transforms normalise with; encode takes it as --normalize
        record["normalize_hint"] = ",".join(f"{v:g}" for v in [*cfg["mean"], *cfg["std"]])
    return module, record
