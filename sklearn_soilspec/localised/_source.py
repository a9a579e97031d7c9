"""The recommended global model: what a library is turned into before it is localised."""

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..preprocessing import SavitzkyGolay, WavelengthResampler

__all__ = ["make_source_model", "train_source_model"]


def make_source_model(grid=None, fast=False, max_epochs=None, device="cpu", random_state=0,
                      **cnn_params):
    """The recommended unfitted global model: resample, SG derivative, per-domain CNN.

    A :class:`~sklearn.pipeline.Pipeline` of
    :class:`~sklearn_soilspec.preprocessing.WavelengthResampler` (onto
    ``grid``, or an even grid spanning the data seen in ``fit``), the
    Savitzky-Golay first derivative (window 11, order 2) and a multi-task
    :class:`~sklearn_soilspec.neural.SpectralCNNRegressor` standardised per
    domain (``standardize="per_domain"``): fitted with the domains as
    ``cnn__groups``, it learns within-domain relations and its warm starts
    scale the local data with the local statistics; fitted with one domain or
    none it is the ordinary pooled standardisation. The network sizes are
    those of the accuracy benchmark (``benchmarks/accuracy_limesoda.py``):
    200 epochs, early stopping on 10 % after 30 flat epochs, ``lr=1e-3`` and
    the default network; ``fast=True`` takes 150 epochs at ``lr=3e-3`` and
    channels (8, 16, 32), a 64-unit trunk and 32-unit heads. The Pipeline
    outputs DataFrames between steps, so the network keeps the wavelength
    grid (written into model files).

    Parameters
    ----------
    grid : array-like, tuple (start, stop, step) or None, default=None
        The model's wavelength grid; None: the data's own range at its median
        step.
    fast : bool, default=False
        The benchmark's fast sizes.
    max_epochs : int or None, default=None
        Override the number of epochs.
    device : str, default="cpu"
    random_state : int or None, default=0
    **cnn_params
        Further :class:`~sklearn_soilspec.neural.SpectralCNNRegressor`
        parameters, over the recommended ones (e.g. ``module_params``).

    Returns
    -------
    model : Pipeline
        Steps ``resample``, ``sg``, ``cnn``.

    Examples
    --------
    >>> from sklearn_soilspec.localised import make_source_model
    >>> model = make_source_model(grid=(450, 1700, 10), fast=True)
    >>> [name for name, _ in model.steps]
    ['resample', 'sg', 'cnn']
    """
    from ..neural import SpectralCNNRegressor

    if fast:
        size = dict(max_epochs=150, patience=30, lr=3e-3,
                    module_params={"channels": (8, 16, 32), "shared_units": (64,),
                                   "head_units": 32})
    else:
        size = dict(max_epochs=200, patience=30, lr=1e-3)
    if max_epochs is not None:
        size["max_epochs"] = max_epochs
    params = dict(architecture="conv1d", batch_size=32, validation_fraction=0.1,
                  random_state=random_state, device=device, standardize="per_domain")
    params.update(size)
    params.update(cnn_params)
    model = Pipeline([("resample", WavelengthResampler(target=grid)),
                      ("sg", SavitzkyGolay(window_length=11, polyorder=2, deriv=1)),
                      ("cnn", SpectralCNNRegressor(**params))])
    return model.set_output(transform="pandas")


def train_source_model(library, grid=None, targets=None, fast=False, max_epochs=None,
                       device="cpu", random_state=0, **cnn_params):
    """Fit :func:`make_source_model` on a spectral library, its domains as groups.

    Parameters
    ----------
    library : SpectralLibrary
        The global library; with two or more domains the network is
        standardised per domain, with one it is pooled.
    grid : array-like, tuple (start, stop, step) or None, default=None
        See :func:`make_source_model`.
    targets : list of str or None, default=None
        Properties to learn; None: all of the library's (those measured on no
        sample are left out).
    fast, max_epochs, device, random_state, **cnn_params
        See :func:`make_source_model`.

    Returns
    -------
    model : Pipeline
        Fitted; save it with :func:`~sklearn_soilspec.transfer.save_model`.

    Examples
    --------
    >>> from sklearn_soilspec.datasets import make_spectra
    >>> from sklearn_soilspec.localised import train_source_model
    >>> lib = make_spectra(60, n_domains=2, wavelengths=range(400, 2500, 20), random_state=0)
    >>> tiny = {"channels": (4,), "shared_units": (8,), "head_units": 8}
    >>> model = train_source_model(lib, max_epochs=2, module_params=tiny)
    >>> model[-1].target_names_
    ['OC', 'clay', 'pH']
    """
    lib = library.as_frame()
    if targets is not None:
        lib = lib.select_targets(list(targets))
    Y = lib.Y
    measured = [c for c in Y.columns if Y[c].notna().any()]
    Y = Y[measured]
    X = lib.X
    if not all(isinstance(c, str) for c in X.columns):
        X = X.set_axis([str(c) for c in X.columns], axis=1)
    model = make_source_model(grid=grid, fast=fast, max_epochs=max_epochs, device=device,
                              random_state=random_state, **cnn_params)
    groups = np.asarray(lib.groups)
    fit_params = {}
    if pd.unique(groups).size >= 2:
        fit_params["cnn__groups"] = groups
    return model.fit(X, Y, **fit_params)
