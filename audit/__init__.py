"""Measuring side of raikit: predictors, assessments and the evidence bundle."""
