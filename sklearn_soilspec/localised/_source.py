"""The recommended global model: what a library is turned into before it is localised."""

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..preprocessing import SavitzkyGolay, WavelengthResampler

__all__ = ["make_source_model", "train_source_model"]

# The coarsest step the default grid keeps, per unit of the axis. 5 nm is the
# grid of load_limesoda_spectra and so of every accuracy figure; vis-NIR soil
# bands are tens of nm wide, and a LUCAS-size library (0.5 nm, 4,200 points)
# kept at its own step predicts ten times slower. 4 cm-1 is LimeSoDa's MIR
# grid and the resolution Bruker soil MIR is measured at (Alpha, HTS-XT): the
# ~1.9-2 cm-1 spacing of their files (tests/data/instruments/opus) comes from
# zero-filling, an interpolation, so 4 cm-1 drops points, not resolution.
DEFAULT_MIN_STEP = {"nm": 5.0, "cm-1": 4.0}

_FAST = dict(max_epochs=150, patience=30, lr=3e-3,
             module_params={"channels": (8, 16, 32), "shared_units": (64,), "head_units": 32})
_WIDE = dict(max_epochs=200, patience=30, lr=1e-3)


def _min_step(min_step, unit):
    if isinstance(min_step, str) and min_step == "auto":
        if unit not in DEFAULT_MIN_STEP:
            raise ValueError(f"unit must be 'nm' or 'cm-1', got {unit!r}.")
        return DEFAULT_MIN_STEP[unit]
    if min_step is not None and not (
            isinstance(min_step, (int, float, np.integer, np.floating))
            and not isinstance(min_step, bool) and np.isfinite(min_step) and min_step > 0):
        raise ValueError(
            f"min_step must be 'auto', a step > 0 or None (the data's own step), got "
            f"{min_step!r}.")
    return min_step


def make_source_model(grid=None, min_step="auto", unit="nm", fast=True, max_epochs=None,
                      device="cpu", random_state=0, **cnn_params):
    """The recommended unfitted global model: resample, SG derivative, per-domain CNN.

    A :class:`~sklearn.pipeline.Pipeline` of
    :class:`~sklearn_soilspec.preprocessing.WavelengthResampler` (onto
    ``grid``, or an even grid spanning the data seen in ``fit``, 5 nm or
    4 cm-1 apart at the finest), the Savitzky-Golay first derivative (window
    11, order 2) and a multi-task
    :class:`~sklearn_soilspec.neural.SpectralCNNRegressor` standardised per
    domain (``standardize="per_domain"``): fitted with the domains as
    ``cnn__groups``, it learns within-domain relations and its warm starts
    scale the local data with the local statistics; fitted with one domain or
    none it is the ordinary pooled standardisation. The default network is
    the accuracy benchmark's fast one: channels (8, 16, 32), a 64-unit trunk
    and 32-unit heads, 150 epochs at ``lr=3e-3``, early stopping on 10 % after
    30 flat epochs; ``fast=False`` is the estimator's default, wider network
    (200 epochs, ``lr=1e-3``). The Pipeline outputs DataFrames between
    steps, so the network keeps the wavelength grid (written into model
    files).

    The defaults are set for prediction speed: on a LUCAS-size library
    (0.5 nm, 4,200 points) the 5 nm grid and the fast network predict about
    five times faster than the 2 nm grid and the wider network
    (``benchmarks/bench_scale.py --sections lucas-predict``); what that costs
    in accuracy is measured by ``benchmarks/source_defaults.py``.

    Parameters
    ----------
    grid : array-like, tuple (start, stop, step) or None, default=None
        The model's wavelength grid; None: the data's range on a grid
        ``min_step`` apart at the finest.
    min_step : "auto", float > 0 or None, default="auto"
        With ``grid=None``, the finest step of the grid (see
        :class:`~sklearn_soilspec.preprocessing.WavelengthResampler`):
        ``"auto"`` is 5 for ``unit="nm"`` and 4 for ``unit="cm-1"``; None
        keeps the data's own median step.
    unit : {"nm", "cm-1"}, default="nm"
        Unit of the spectral axis, for ``min_step="auto"``.
    fast : bool, default=True
        The fast network; False: the wider default network of
        :class:`~sklearn_soilspec.neural.SpectralCNNRegressor`.
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
    >>> model = make_source_model()
    >>> [name for name, _ in model.steps]
    ['resample', 'sg', 'cnn']
    >>> model.named_steps["resample"].min_step
    5.0
    >>> make_source_model(unit="cm-1").named_steps["resample"].min_step
    4.0
    >>> model = make_source_model(grid=(450, 1700, 10), fast=False)
    >>> model.named_steps["cnn"].module_params is None
    True
    """
    from ..neural import SpectralCNNRegressor

    step = _min_step(min_step, unit)
    size = dict(_FAST if fast else _WIDE)
    if max_epochs is not None:
        size["max_epochs"] = max_epochs
    params = dict(architecture="conv1d", batch_size=32, validation_fraction=0.1,
                  random_state=random_state, device=device, standardize="per_domain")
    params.update(size)
    params.update(cnn_params)
    # A given grid is the grid: min_step applies only to the default one.
    resample = WavelengthResampler(target=grid, min_step=None if grid is not None else step)
    model = Pipeline([("resample", resample),
                      ("sg", SavitzkyGolay(window_length=11, polyorder=2, deriv=1)),
                      ("cnn", SpectralCNNRegressor(**params))])
    return model.set_output(transform="pandas")


def train_source_model(library, grid=None, min_step="auto", targets=None, fast=True,
                       max_epochs=None, device="cpu", random_state=0, **cnn_params):
    """Fit :func:`make_source_model` on a spectral library, its domains as groups.

    Parameters
    ----------
    library : SpectralLibrary
        The global library; with two or more domains the network is
        standardised per domain, with one it is pooled.
    grid : array-like, tuple (start, stop, step) or None, default=None
        See :func:`make_source_model`.
    min_step : "auto", float > 0 or None, default="auto"
        See :func:`make_source_model`; ``"auto"`` follows the library's
        ``unit`` (5 nm, 4 cm-1).
    targets : list of str or None, default=None
        Properties to learn; None: all of the library's (those measured on no
        sample are left out).
    fast : bool, default=True
        See :func:`make_source_model`; False: the wider network.
    max_epochs, device, random_state, **cnn_params
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
    >>> model[0].target_wavelengths_[:3]  # 20 nm data keeps its own step
    array([400., 420., 440.])
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
    model = make_source_model(grid=grid, min_step=min_step, unit=library.unit, fast=fast,
                              max_epochs=max_epochs, device=device, random_state=random_state,
                              **cnn_params)
    groups = np.asarray(lib.groups)
    fit_params = {}
    if pd.unique(groups).size >= 2:
        fit_params["cnn__groups"] = groups
    return model.fit(X, Y, **fit_params)
