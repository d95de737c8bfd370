"""Measuring side of raikit: predictors, assessments and the evidence bundle.

:func:`audit` audits any model (a raikit checkpoint, a scikit-learn classifier, a torch module,
a Hugging Face model or pipeline, or a table of predictions) in one call. Everything heavy is
imported inside the functions that need it, so importing this package stays fast.
"""

from raikit.audit._api import audit

__all__ = ["audit"]
