"""Localisation: one model from a global source and a few local samples.

:class:`LocalisedRegressor` weighs, per soil property, the global model as
it is, the global model recalibrated, the global network fine-tuned, and
local models (PLSR, Gaussian processes, memory-based learning with a
library) by cross-fitting on the local samples, and falls back to the best
single one where a combination does not clearly help: the promise of
Padarian, Minasny & McBratney (Geoderma 2019), share a global model and
localise it with a few local samples, with negative transfer caught.
:func:`make_source_model` and :func:`train_source_model` build the global
model it starts from.
"""

from ._plot import plot_localisation
from ._regressor import LocalisedRegressor
from ._source import make_source_model, train_source_model

__all__ = ["LocalisedRegressor", "make_source_model", "plot_localisation", "train_source_model"]
