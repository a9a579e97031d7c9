"""scikit-learn compatible soil spectroscopy.

Subpackages
-----------
preprocessing
    Spectral transformers (absorbance, resampling, scatter correction,
    derivatives, spectrograms).
datasets
    The :class:`~sklearn_soilspec.datasets.SpectralLibrary` container and
    loaders (LimeSoDa, LUCAS, OSSL, CSV) plus a synthetic generator.
neural
    The skorch-based multi-task :class:`SpectralCNNRegressor`.
transfer
    Warm starts, layer freezing, shareable model files and the
    negative-transfer guard.
baselines
    PLSR with tuned components, spiking and memory-based learning.
experiments
    The global vs local vs transfer localisation experiment.
"""

from ._version import __version__

__all__ = ["__version__"]
