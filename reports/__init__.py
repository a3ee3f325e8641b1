"""Static HTML reports of run folders: one self-contained file per run, or per comparison.

``build_report(run) -> ReportModel`` gathers what the run holds; ``render_report(model)``
turns it into HTML through Jinja2 templates; ``write_report(run, out)`` does both, atomically.
The core (``latentviz``) never imports this package; the CLI does, lazily.
"""

from reports._build import MAX_POINTS, build_report, render_report, write_report

__all__ = ["MAX_POINTS", "build_report", "render_report", "write_report"]
