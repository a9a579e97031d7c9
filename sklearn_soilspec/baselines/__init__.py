"""Baselines soil spectroscopists compare against.

- :class:`PLSRegressionCV`: PLSR with the number of components cross-validated.
- :class:`SpikedRegressor`: any regressor fitted on a global library spiked
  with up-weighted local samples.
- :class:`MemoryBasedRegressor`: memory-based learning (LOCAL / resemble's
  ``mbl``), a small PLS on the nearest library spectra of every query.
- :class:`PCAGaussianProcessRegressor`: a Gaussian process per property on
  the principal components of the spectra, strong on small local sets.

Cubist (``pip install sklearn-soilspec[cubist]``) needs no wrapper:
``cubist.Cubist`` is a scikit-learn regressor that takes ``sample_weight``, so
``SpikedRegressor(Cubist(), ...)`` weights local rows without repeating them.
"""

from ._gpr import PCAGaussianProcessRegressor
from ._mbl import MemoryBasedRegressor
from ._pls_cv import PLSRegressionCV
from ._spiking import SpikedRegressor

__all__ = [
    "MemoryBasedRegressor", "PCAGaussianProcessRegressor", "PLSRegressionCV", "SpikedRegressor",
]
