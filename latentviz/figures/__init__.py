"""Every plotly figure latentviz draws, as pure functions: data in, ``go.Figure`` out.

The dashboard and the static report call the same builders with the same arguments, so a plot
looks the same in both. No function here reads files or imports Dash; user strings (labels,
ids, names) are escaped before they reach plotly.
"""

from latentviz.figures._drift import cluster_share_bars, cluster_sizes, drift_map, ks_bars
from latentviz.figures._latents import activity_bars, chosen_dims, correlation_heatmap, kl_bars, latent_histograms
from latentviz.figures._matrices import mi_heatmap, similarity_heatmap
from latentviz.figures._scatter import (
    COLOR_MODES, METHOD_NAMES, display_name, is_categorical, projection_scatter, sample_rows, scatter_colors,
)
from latentviz.figures._series import metric_series
from latentviz.figures._style import TEMPLATE
from latentviz.figures._tables import MetricRow, metric_rows, metric_values, range_text

__all__ = [
    "COLOR_MODES", "METHOD_NAMES", "MetricRow", "TEMPLATE", "activity_bars", "chosen_dims", "cluster_share_bars",
    "cluster_sizes", "correlation_heatmap", "display_name", "drift_map", "is_categorical", "kl_bars", "ks_bars", "latent_histograms", "metric_rows", "metric_series", "metric_values", "mi_heatmap", "projection_scatter",
    "range_text", "sample_rows", "scatter_colors", "similarity_heatmap",
]
