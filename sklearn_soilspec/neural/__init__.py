"""Multi-task CNNs for soil spectra, as scikit-learn regressors (on skorch).

The torch modules have named layer groups (``features``, ``shared``,
``heads.<target>``) so that :mod:`sklearn_soilspec.transfer` can warm-start
and freeze them by name.
"""

from ._augment import SpectralAugmenter
from ._loss import MaskedMultiTaskMSELoss
from ._modules import SpectralConv1d, SpectrogramConv2d
from .._targets import nan_r2_score
from ._regressor import SpectralCNNRegressor

__all__ = [
    "MaskedMultiTaskMSELoss",
    "SpectralAugmenter",
    "SpectralCNNRegressor",
    "SpectralConv1d",
    "SpectrogramConv2d",
    "nan_r2_score",
]
