"""Traversals and interpolation: see what each latent dimension does and whether the space is continuous.

``model`` below is a run's :class:`~latentviz.models.LatentModel`, any object with a ``decode``
method, or a plain callable from a batch of latents (n, d) to outputs; decoding runs batched on
the model's device under ``torch.inference_mode()``.

- :func:`grid` — one seed code, each of ``dims`` swept over ``values``: (n_dims, n_steps, *output).
- :func:`interpolate` — lerp or slerp between two codes: (steps, d).
- :func:`direction` — the unit vector of a label or factor (class means, regression) or of PCA.
- :func:`manipulate` — move one latent of a code by ``delta``.
- :func:`to_png`, :func:`to_gif` — lay out any (rows, steps, *output) array with labels.
- :func:`traverse` — the ``latentviz traverse`` stage: every figure of a run into ``traversals/``; it lives
  in :mod:`latentviz.stages.traverse` and is re-exported here lazily, so the library never imports its stage.
"""

from typing import TYPE_CHECKING, Any

from latentviz.traversal._decode import Decoder, grid, traversal_effect
from latentviz.traversal._geometry import (
    direction,
    interpolate,
    manipulate,
    principal_directions,
    sweep_labels,
    sweep_values,
)
from latentviz.traversal._render import is_image_output, to_gif, to_png

if TYPE_CHECKING:
    from latentviz.stages.traverse import skip_reason, traverse, traverse_stage

_STAGE_NAMES = ("skip_reason", "traverse", "traverse_stage")

__all__ = [
    "Decoder",
    "direction",
    "grid",
    "interpolate",
    "is_image_output",
    "manipulate",
    "principal_directions",
    "skip_reason",
    "sweep_labels",
    "sweep_values",
    "to_gif",
    "to_png",
    "traverse",
    "traverse_stage",
    "traversal_effect",
]


def __getattr__(name: str) -> Any:
    if name in _STAGE_NAMES:
        from latentviz.stages import traverse as stage

        return getattr(stage, name)
    raise AttributeError(f"module 'latentviz.traversal' has no attribute {name!r}")
