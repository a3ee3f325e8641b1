"""``latentviz.show(run)``: the dashboard inline in a Jupyter notebook, through Dash's own Jupyter mode."""

from __future__ import annotations


def show(
    *runs,
    mode: str = "inline",
    port: int = 8050,
    height: int = 820,
    load_model: bool = True,
    device: str = "auto",
    trust_checkpoint: bool = False,
):
    """Show the dashboard of one or more run folders in the notebook (or a tab, with ``mode="tab"``).

    Parameters
    ----------
    *runs : path-like or Run
        Run folders (or :class:`~latentviz.run.Run` objects); several enable the Compare page.
    mode : {"inline", "external", "tab", "jupyterlab"}
        Dash's ``jupyter_mode``.
    port : int
        Port of the local server (bound to 127.0.0.1).
    height : int
        Height of the inline frame in pixels.
    load_model : bool
        Reload each run's model for live decoding (``False``: the saved traversal images).
    device : str
        Where decoding runs: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``mps``.
    trust_checkpoint : bool
        Reload a model that runs code (a factory file, a pickled module...) even without this
        machine's record that you made the run with those files (see :mod:`latentviz.trust`).

    Returns
    -------
    dash.Dash
        The running app.
    """
    from latentviz._optional import require
    from latentviz.errors import InputError

    require("dash", purpose="latentviz.show")
    if not runs:
        raise InputError("show: give at least one run folder, e.g. latentviz.show('runs/demo')")
    from dashboards.app import create_app

    paths = [getattr(run, "path", run) for run in runs]
    app = create_app(paths, load_model=load_model, device=device, trust_checkpoint=trust_checkpoint)
    app.run(jupyter_mode=mode, jupyter_height=height, host="127.0.0.1", port=port)
    return app
