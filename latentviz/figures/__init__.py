"""Every plotly figure latentviz draws, as pure functions: data in, ``go.Figure`` out.

The dashboard and the static report call the same builders with the same arguments, so a plot
looks the same in both. No function here reads files or imports Dash; user strings (labels,
ids, names) are escaped before they reach plotly.
"""

from latentviz.figures._dashboard import legend_3d, projection_scatter_3d
from latentviz.figures._density import DEFAULT_SIZE as DENSITY_SIZE
from latentviz.figures._density import density_image, extent, in_view
from latentviz.figures._drift import cluster_share_bars, cluster_sizes, drift_map, ks_bars
from latentviz.figures._latents import activity_bars, chosen_dims, correlation_heatmap, kl_bars, latent_histograms
from latentviz.figures._matrices import mi_heatmap, similarity_heatmap
from latentviz.figures._scatter import (
    COLOR_MODES,
    category_colors,
    display_name,
    is_categorical,
    projection_scatter,
    sample_rows,
    scatter_colors,
    uses_webgl,
)
from latentviz.figures._series import metric_series
from latentviz.figures._style import ACCENT, TEMPLATE, compact, text
from latentviz.figures._tables import MetricRow, metric_rows, metric_values, range_text

__all__ = [
    "ACCENT",
    "COLOR_MODES",
    "DENSITY_SIZE",
    "MetricRow",
    "TEMPLATE",
    "activity_bars",
    "category_colors",
    "chosen_dims",
    "cluster_share_bars",
    "cluster_sizes",
    "compact",
    "correlation_heatmap",
    "density_image",
    "display_name",
    "drift_map",
    "extent",
    "in_view",
    "is_categorical",
    "kl_bars",
    "ks_bars",
    "latent_histograms",
    "legend_3d",
    "metric_rows",
    "metric_series",
    "metric_values",
    "mi_heatmap",
    "projection_scatter",
    "projection_scatter_3d",
    "range_text",
    "sample_rows",
    "scatter_colors",
    "similarity_heatmap",
    "text",
    "uses_webgl",
]
