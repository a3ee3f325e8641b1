"""Progress bars and status lines on stderr, silenced by ``--quiet``."""

from __future__ import annotations

import sys


def progress(*, total: int | None, desc: str, unit: str = "it", quiet: bool = False):
    """A tqdm bar on stderr (a no-op bar when quiet)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=quiet,
        file=sys.stderr,
        dynamic_ncols=True,
        unit_scale=True,
        leave=False,
    )


def say(message: str, *, quiet: bool = False) -> None:
    """One status line on stderr."""
    if not quiet:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)
