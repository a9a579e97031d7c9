"""What the candidates are made of: preprocessing, sizes, the source and library as read."""

import os
import warnings

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..preprocessing import SavitzkyGolay, parse_wavelengths, resample_spectra
from ._source import DEFAULT_MIN_STEP

__all__ = []

MEMBER_NAMES = ("source", "source_corrected", "fine_tuned", "plsr", "gpr", "gpr_d2", "mbl",
                "spiked_plsr", "mean")
# Cheap members refitted on every local row once the weights are chosen (a
# PLSR or GP gains from every row and does not go astray); the others predict
# with the mean of their fold models, the very models that were validated.
# Candidates built on the source: where the source saw a local row, their
# out-of-fold error on it is in-sample.
SOURCE_BASED = frozenset({"source", "source_corrected", "fine_tuned"})
# Candidates that see the library: what the source knows of it, scored honestly.
LIBRARY_BASED = frozenset({"mbl", "spiked_plsr"})
REFITTED = frozenset({"source", "source_corrected", "plsr", "gpr", "gpr_d2", "spiked_plsr",
                      "mean"})
# The epoch counts a fine-tuning is chosen among, per property, by an inner
# cross-fit (with the source as it is as the further option): one run per
# inner fold keeps its weights at each of them. Chosen on make_spectra (20
# domains of one instrument, ~40 local rows; benchmarks/localised_study_setting.py):
# at lr=1e-4 the held-out error falls smoothly over the first tens of epochs,
# at lr=1e-3 it jumps up after the first epoch and recovers only by epoch 30.
FINE_TUNE_CHECKPOINTS = (0, 2, 5, 10, 20, 40)
FINE_TUNE_INNER_CV = 3
FINE_TUNE_LR = 1e-4
# Most gradient steps a default fine-tuning run takes (40 epochs of four
# batches): on a few hundred local rows 40 epochs would be ten times the
# steps of the small sets the grid was chosen on, and the cost of each fit
# grows with them (a 414-row site took 1,015 s with 200 epochs).
FINE_TUNE_MAX_STEPS = 160

def working_grid(wavelengths):
    """The grid the local and library candidates work on, or None to keep ``wavelengths``.

    No finer than 5 nm or 4 cm-1 (``DEFAULT_MIN_STEP``, the source model's
    policy; an axis beyond 3000 is taken for wavenumbers). The candidates'
    Savitzky-Golay windows (11 and 15 points) are set for data on that step,
    LimeSoDa's; on an ASD's 1 nm they would span 11 nm, and the derivatives
    of such narrow windows are mostly noise.
    """
    if wavelengths is None or len(wavelengths) < 3:
        return None
    wl = np.asarray(wavelengths, dtype=np.float64)
    step = DEFAULT_MIN_STEP["cm-1" if wl.max() > 3000 else "nm"]
    if np.median(np.abs(np.diff(wl))) >= 0.999 * step:
        return None
    # From the first value of the axis, in its direction (MIR runs downward).
    span = wl[-1] - wl[0]
    return wl[0] + np.sign(span) * step * np.arange(int(abs(span) / step + 1e-9) + 1)


def savgol(deriv, n_features):
    """The benchmark's Savitzky-Golay derivative, its window clipped to short spectra."""
    window = 11 if deriv == 1 else 15
    if n_features < window:
        window = max(1, n_features if n_features % 2 else n_features - 1)
    if window < 3:
        return "passthrough"
    polyorder = min(2, window - 1)
    return SavitzkyGolay(window_length=window, polyorder=polyorder, deriv=min(deriv, polyorder))


def local_estimators(n_features, pls_components, random_state):
    """``plsr``, ``gpr`` and ``gpr_d2``: the local models of the accuracy benchmark."""
    from ..baselines import PCAGaussianProcessRegressor, PLSRegressionCV

    def pls():
        return PLSRegressionCV(max_components=pls_components, cv=5, random_state=random_state)

    return {
        "plsr": Pipeline([("sg", savgol(1, n_features)), ("pls", pls())]),
        "gpr": Pipeline([("sg", savgol(1, n_features)),
                         ("gpr", PCAGaussianProcessRegressor(random_state=random_state))]),
        "gpr_d2": Pipeline([("sg", savgol(2, n_features)),
                            ("gpr", PCAGaussianProcessRegressor(random_state=random_state))]),
    }


def library_estimators(n_features, n_library, pls_components, random_state):
    """``mbl`` and ``spiked_plsr`` of the study, on the library's grid."""
    from ..baselines import MemoryBasedRegressor, PLSRegressionCV, SpikedRegressor

    k = int(min(100, max(10, n_library // 2)))
    mbl = MemoryBasedRegressor(n_neighbors=k, pls_components=(3, 15), spike=True)
    spiked = SpikedRegressor(PLSRegressionCV(max_components=pls_components, cv=5,
                                             random_state=random_state), spike_weight=5.0)
    return {
        "mbl": Pipeline([("sg", savgol(1, n_features)), ("mbl", mbl)]),
        "spiked_plsr": Pipeline([("sg", savgol(1, n_features)), ("spiked", spiked)]),
    }


def resolve_source(source):
    """The fitted source model: loaded from a file, unwrapped from a FrozenEstimator."""
    if isinstance(source, (str, os.PathLike)):
        from ..transfer import load_model

        source = load_model(source)
    if type(source).__name__ == "FrozenEstimator" and hasattr(source, "estimator"):
        source = source.estimator
    check_is_fitted(source, msg=(
        f"source is an unfitted {type(source).__name__}: fit the global model first "
        "(train_source_model), or pass the path of a saved model."))
    return source


def fine_tune_params(cnn, n_train, overrides):
    """Parameters of a fine-tuning run from ``cnn`` on ``n_train`` local rows.

    Besides :class:`~sklearn_soilspec.neural.SpectralCNNRegressor`
    parameters, ``checkpoints`` (the epoch counts weighed; None: train
    ``max_epochs`` and take the end), ``inner_cv`` (inner folds of the
    choice) and ``select_margin`` (see :func:`._fine_tune.select_epochs`)
    are read by the member. No run holds out rows for early stopping: the
    inner cross-fit is the validation, on every row rather than 10 % of them.
    On more than 128 rows the grid ends earlier, at about 160 gradient steps.
    """
    batches = -(-max(int(n_train), 1) // int(cnn.batch_size))
    last = min(max(FINE_TUNE_CHECKPOINTS), max(5, -(-FINE_TUNE_MAX_STEPS // batches)))
    grid = tuple(e for e in FINE_TUNE_CHECKPOINTS if e < last) + (last,)
    params = dict(architecture=cnn.architecture, module_params=cnn.module_params,
                  image_shape=cnn.image_shape, batch_size=cnn.batch_size, device=cnn.device,
                  freeze_layers="features", lr=FINE_TUNE_LR, validation_fraction=None,
                  patience=None, max_epochs=last, checkpoints=grid,
                  inner_cv=FINE_TUNE_INNER_CV, select_margin=0.0)
    reserved = sorted({"warm_start_from", "random_state"} & set(overrides or {}))
    if reserved:
        raise ValueError(
            f"fine_tune sets {reserved}, which LocalisedRegressor sets itself (the source, "
            "and seeds drawn from its random_state): leave them out.")
    params.update(overrides or {})
    return params


def library_arrays(library, target_names, local_wavelengths, n_local_features):
    """``(X, Y, wavelengths, columns)`` of the library, ``Y`` aligned to the local properties.

    ``X`` is on the library's :func:`working_grid`.

    ``columns`` lists the local properties the library measures; the others
    are NaN columns of ``Y``.
    """
    if hasattr(library, "wavelengths") and hasattr(library, "groups"):
        X, Y_, wl = library.X, library.Y, np.asarray(library.wavelengths, dtype=np.float64)
        names = list(library.target_names)
    elif isinstance(library, (tuple, list)) and len(library) == 2:
        X, Y_ = library
        names = ([str(c) for c in Y_.columns] if hasattr(Y_, "columns") else
                 [str(Y_.name)] if getattr(Y_, "name", None) is not None else None)
        wl = parse_wavelengths(list(X.columns)) if hasattr(X, "columns") else None
    else:
        raise TypeError(
            "library must be a SpectralLibrary or a tuple (X, Y), got "
            f"{type(library).__name__}.")
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    Y_ = np.asarray(Y_, dtype=np.float64).reshape(len(X), -1)
    if wl is None:
        if X.shape[1] != n_local_features:
            raise ValueError(
                f"The library's spectra are an array of {X.shape[1]} columns without a "
                f"wavelength axis, and the local spectra have {n_local_features}: pass the "
                "library as a SpectralLibrary or with DataFrame columns named by wavelength.")
        wl = local_wavelengths
    grid = working_grid(wl)
    if grid is not None:
        X, wl = resample_spectra(X, wl, grid), grid
    if names is None:
        if Y_.shape[1] != len(target_names):
            raise ValueError(
                f"The library's Y has {Y_.shape[1]} unnamed columns for {len(target_names)} "
                "local properties: pass Y as a DataFrame named like the local properties.")
        names = list(target_names)
    Y = np.full((len(X), len(target_names)), np.nan)
    columns = []
    for j, name in enumerate(target_names):
        if name in names:
            Y[:, j] = Y_[:, names.index(name)]
            columns.append(j)
    return X, Y, wl, columns


def rows_in(library_X, X, rtol=1e-6, block=4096, return_local=False):
    """Mask of the library rows that are (numerically) one of the rows of ``X``.

    A library that contains the local samples themselves (a regional library
    the farm's samples went into) would let a library candidate find each
    held-out local row's own copy among its neighbours: its out-of-fold
    error would be in-sample. Rows match when their distance is below
    ``rtol`` of the local row's norm, which holds after the local spectra
    are resampled onto the library's own grid. ``return_local``: also the
    mask of the rows of ``X`` found in the library, from the same pass.
    """
    L = np.asarray(library_X, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    found, local = np.zeros(len(L), bool), np.zeros(len(X), bool)
    if not len(X) or not len(L):
        return (found, local) if return_local else found
    x2 = np.einsum("ij,ij->i", X, X)
    tol = (rtol ** 2) * np.maximum(x2, 1e-300)
    for start in range(0, len(L), block):
        B = L[start:start + block]
        b2 = np.einsum("ij,ij->i", B, B)
        # |b - x|^2 by the expansion, exact enough at this tolerance; NaN
        # library rows compare False and are kept for the member to handle.
        d2 = b2[:, None] - 2.0 * (B @ X.T) + x2[None, :]
        hit = d2 <= tol[None, :] + 1e-12 * (b2[:, None] + x2[None, :])
        found[start:start + block] = hit.any(axis=1)
        local |= hit.any(axis=0)
    return (found, local) if return_local else found


def without_local_rows(library_X, library_Y, local_on_library_grid):
    """The library without the local spectra themselves (warned).

    Returns the library's spectra and targets, how many library rows were
    left out, and the mask of the local rows found in the library.
    """
    same, local = rows_in(library_X, local_on_library_grid, return_local=True)
    if not same.any():
        return library_X, library_Y, 0, np.zeros(len(local_on_library_grid), dtype=bool)
    # Every fold model is spiked with its own training rows; a held-out row
    # must not be found in the library as well.
    warnings.warn(
        f"{int(same.sum())} library spectra are the local spectra themselves; they are left "
        "out of the library, so that the library candidates are scored on rows they have not "
        "seen (the local rows are added to every library model anyway). If the source model "
        "was trained on this library too, its out-of-fold error on them is in-sample: the "
        "weights are measured from the best candidate not built on the source, and the "
        "prediction intervals on those rows rest on the local and library candidates. Train "
        "the source without the local samples to score it honestly.", UserWarning,
        stacklevel=4)
    return library_X[~same], library_Y[~same], int(same.sum()), local
