"""Training side of raikit: datasets, schemas, architectures, training and checkpoints.

Heavy dependencies (torch) are imported inside the functions that need them.
"""

from raikit.models.errors import ConfigError, DataError, ModelError, OutputError, RaikitError

__all__ = ["ConfigError", "DataError", "ModelError", "OutputError", "RaikitError"]
