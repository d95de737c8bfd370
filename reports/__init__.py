"""Rendering side of raikit: evidence -> report.

``import reports`` is light: matplotlib is imported only when a chart is drawn, and nothing
here imports torch, sklearn or fairlearn.
"""

from raikit.reports._render import SUPPORTED_FORMATS, render
from raikit.reports._summary import GroupRate, SummaryItem, summarise

__all__ = ["SUPPORTED_FORMATS", "GroupRate", "SummaryItem", "render", "summarise"]
