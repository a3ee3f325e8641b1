"""``builtin:shapes``: a dSprites-like synthetic set with known generative factors, rendered here.

Factors (in this order, the grid's row-major order): ``shape`` (square, ellipse, heart),
``scale``, ``rotation``, ``pos_x``, ``pos_y``. Every image is a pure function of its factor
levels, so the set is deterministic and any factor combination can be rendered on demand —
what the sampling-based disentanglement scores need.

Options go after a ``?``: ``builtin:shapes?size=32&scales=4&rotations=8&positions=8&shapes=3``.
Defaults: 64 px, 6 scales, 10 rotations, 16 positions per axis, 3 shapes (46,080 images).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import torch

from latentviz.data._base import Batch, DataSource
from latentviz.errors import InputError
from latentviz.run import FACTOR_PREFIX

SHAPE_NAMES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "rotation", "pos_x", "pos_y")
_DEFAULTS = {"size": 64, "shapes": 3, "scales": 6, "rotations": 10, "positions": 16}
_SUPERSAMPLE = 2


class Shapes(DataSource):
    """The full factor grid; row i is the grid point ``np.unravel_index(i, factor_sizes)``."""

    def __init__(
        self,
        *,
        size: int = 64,
        shapes: int = 3,
        scales: int = 6,
        rotations: int = 10,
        positions: int = 16,
        spec: str | None = None,
    ):
        params = {"size": size, "shapes": shapes, "scales": scales, "rotations": rotations, "positions": positions}
        for key, value in params.items():
            if int(value) < 1:
                raise InputError(f"builtin:shapes: {key} must be a positive integer; got {value}")
        if not 1 <= shapes <= len(SHAPE_NAMES):
            raise InputError(f"builtin:shapes: shapes must be 1..{len(SHAPE_NAMES)}; got {shapes}")
        if size < 8:
            raise InputError(f"builtin:shapes: size must be at least 8 pixels; got {size}")
        super().__init__(spec=spec or "builtin:shapes", kind="image", options=params)
        self.size = int(size)
        self.factor_sizes = (int(shapes), int(scales), int(rotations), int(positions), int(positions))
        self.scale_values = np.linspace(0.5, 1.0, scales) if scales > 1 else np.array([1.0])
        self.rotation_values = np.linspace(0.0, 2 * np.pi, rotations, endpoint=False)
        self.position_values = np.linspace(0.0, 1.0, positions) if positions > 1 else np.array([0.5])

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))

    @property
    def item_shape(self):
        return self.conformed_shape((1, self.size, self.size))

    @property
    def factor_names(self) -> tuple[str, ...]:
        return FACTOR_NAMES

    def factors_of(self, index: np.ndarray) -> np.ndarray:
        """Factor levels (n, 5) of grid rows ``index``."""
        return np.stack(np.unravel_index(np.asarray(index), self.factor_sizes), axis=1).astype(np.int64)

    def index_of(self, factors: np.ndarray) -> np.ndarray:
        """Grid rows of factor levels (n, 5)."""
        return np.ravel_multi_index(tuple(np.asarray(factors).T), self.factor_sizes)

    def sample_factors(self, n: int, random_state: np.random.RandomState) -> np.ndarray:
        """Draw n factor vectors uniformly (one randint per factor, as the reference does)."""
        return np.stack([random_state.randint(s, size=n) for s in self.factor_sizes], axis=1)

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Images (n, 1, size, size) float32 in [0, 1] for factor levels (n, 5)."""
        factors = np.asarray(factors, dtype=np.int64).reshape(-1, 5)
        if np.any(factors < 0) or np.any(factors >= np.array(self.factor_sizes)):
            raise InputError(f"builtin:shapes: factor levels out of range; sizes are {self.factor_sizes}")
        return _render(
            shape=factors[:, 0],
            scale=self.scale_values[factors[:, 1]],
            angle=self.rotation_values[factors[:, 2]],
            pos_x=self.position_values[factors[:, 3]],
            pos_y=self.position_values[factors[:, 4]],
            size=self.size,
        )

    def read(self, start: int, stop: int) -> Batch:
        index = np.arange(start, stop)
        factors = self.factors_of(index)
        images = torch.from_numpy(self.conform(self.render(factors)))
        meta: dict[str, object] = {"id": [str(i) for i in index], "label": [SHAPE_NAMES[s] for s in factors[:, 0]]}
        for j, name in enumerate(FACTOR_NAMES):
            meta[FACTOR_PREFIX + name] = factors[:, j]
        return Batch(x=images, meta=meta, images=images)


def from_spec(spec: str) -> Shapes:
    """Parse ``builtin:shapes[?key=value&...]``."""
    _, _, query = spec.partition("?")
    options = dict(_DEFAULTS)
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in options:
            raise InputError(f"builtin:shapes: unknown option '{key}'; choose from {', '.join(_DEFAULTS)}")
        try:
            options[key] = int(value)
        except ValueError:
            raise InputError(f"builtin:shapes: {key} must be an integer; got '{value}'") from None
    return Shapes(spec=spec, **options)


def _inside(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test in the object's own frame (unit size), broadcast over (n, points)."""
    square = np.maximum(np.abs(u), np.abs(v)) <= 0.75
    ellipse = u**2 + (v / 0.5) ** 2 <= 1.0
    hx, hy = 1.15 * u, -1.15 * v + 0.25  # image rows grow downwards; the heart points down
    heart = (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
    return np.select([shape[:, None] == 0, shape[:, None] == 1], [square, ellipse], heart)


def _render(shape, scale, angle, pos_x, pos_y, size: int) -> np.ndarray:
    n = len(shape)
    fine = size * _SUPERSAMPLE
    coords = (np.arange(fine) + 0.5) / _SUPERSAMPLE  # pixel centres of the fine grid, in output pixels
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    radius = 0.2 * size * scale[:, None]
    margin = 0.2 * size * 1.15 + 1.0
    cx = margin + pos_x[:, None] * (size - 2 * margin)
    cy = margin + pos_y[:, None] * (size - 2 * margin)
    dx = xx.reshape(1, -1) - cx
    dy = yy.reshape(1, -1) - cy
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    u = (cos * dx + sin * dy) / radius
    v = (-sin * dx + cos * dy) / radius
    mask = _inside(np.asarray(shape), u, v).astype(np.float32).reshape(n, size, _SUPERSAMPLE, size, _SUPERSAMPLE)
    return mask.mean(axis=(2, 4))[:, None]
