"""Render a report model to one self-contained HTML file with Jinja2.

plotly.js is read from the installed plotly package and inlined once; figures travel as JSON in
``<script type="application/json">`` blocks; images are base64 ``data:`` URLs. Autoescape is on
for every ``.html`` template, so a label such as ``<script>`` is shown as text.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import jinja2
from markupsafe import Markup

_SCRIPT_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the plotly Python package (no CDN, no network)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    source = path.read_text(encoding="utf-8")
    if "</script" in source.lower():  # would end the inline <script> early
        source = source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return source


def json_script(value) -> Markup:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>`` can appear)."""
    from plotly.io.json import to_json_plotly

    text = to_json_plotly(value)
    for char, escaped in _SCRIPT_SAFE.items():
        text = text.replace(char, escaped)
    return Markup(text)


def num(value, digits: int = 3) -> str:
    """A number for reading: thousands separators for large values, ``digits`` significant figures otherwise."""
    if value is None or isinstance(value, str):
        return "—" if value is None else value
    value = float(value)
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def seconds(value) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``."""
    value = float(value)
    if value < 60:
        return f"{value:.3g} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(num=num, seconds=seconds, json_script=json_script)
    return env


def render(template: str, **context) -> str:
    """Render ``template`` (in ``reports/templates``) with plotly.js available as ``plotly_js``."""
    return environment().get_template(template).render(plotly_js=Markup(plotly_js()), **context)
