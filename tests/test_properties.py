"""Property-based tests: bad arrays give a named error or a finite answer.

Every transformer of :mod:`sklearn_soilspec.preprocessing` and every baseline
is fed small random arrays of the kinds real files produce (NaN, inf, empty,
one row, one column, constant rows, huge or tiny magnitudes, the wrong
dimensionality, object dtype) and wavelength grids that are not increasing or
hold repeats. The outcome must be a ``ValueError``/``TypeError`` whose message
says something, never an ``IndexError``, ``ZeroDivisionError``,
``LinAlgError`` or a numpy ``RuntimeWarning`` followed by NaN; or an output
that is finite.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.linalg import LinAlgWarning
from sklearn.base import clone
from sklearn.linear_model import Ridge

import sklearn_soilspec.preprocessing as pp
from sklearn_soilspec.baselines import (
    MemoryBasedRegressor,
    PCAGaussianProcessRegressor,
    PLSRegressionCV,
    SpikedRegressor,
)

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Configured for arrays of 1-8 columns; ``wavelengths="index"`` where the
# axis is needed, replaced by a drawn grid in the grid test.
TRANSFORMERS = {
    "Absorbance": pp.Absorbance(),
    "Absorbance-inverse": pp.Absorbance(inverse=True),
    "Binning": pp.Binning(bin_size=2),
    "ContinuumRemoval": pp.ContinuumRemoval(wavelengths="index"),
    "ContinuumRemoval-absorbance": pp.ContinuumRemoval(
        measurement="absorbance", wavelengths="index"
    ),
    "Detrend": pp.Detrend(order=1),
    "MSC": pp.MSC(),
    "SNV": pp.SNV(),
    "SavitzkyGolay": pp.SavitzkyGolay(window_length=3, polyorder=1, deriv=1),
    "SpectralTrim": pp.SpectralTrim(start=1, wavelengths="index"),
    "Spectrogram": pp.Spectrogram(nperseg=2, noverlap=1),
    "WavelengthResampler": pp.WavelengthResampler(wavelengths="index"),
}


def test_every_public_transformer_is_tested():
    classes = {n for n in pp.__all__ if isinstance(getattr(pp, n), type)}
    tested = {type(t).__name__ for t in TRANSFORMERS.values()}
    assert classes == tested


REGRESSORS = {
    "PLSRegressionCV": PLSRegressionCV(max_components=3, cv=2, random_state=0),
    "MemoryBasedRegressor": MemoryBasedRegressor(
        n_neighbors=3, pls_components=(1, 2), space="spectra", metric="euclidean"
    ),
    "MemoryBasedRegressor-pca": MemoryBasedRegressor(n_neighbors=3, pls_components=(1, 2)),
    "PCAGaussianProcessRegressor": PCAGaussianProcessRegressor(
        n_components=2, n_restarts_optimizer=0
    ),
    "SpikedRegressor": SpikedRegressor(
        PLSRegressionCV(max_components=2, cv=2, random_state=0), spike_weight=2
    ),
    "SpikedRegressor-ridge": SpikedRegressor(Ridge(), spike_weight=2),
    "SpikedRegressor-local": SpikedRegressor(
        PLSRegressionCV(max_components=2, cv=2, random_state=0), spike_weight=3,
        local_domain="site",
    ),
}


def fit_params(name, n):
    """``groups`` marking every other row local, for the spiked model that needs it."""
    if not name.endswith("-local"):
        return {}
    return {"groups": np.where(np.arange(n) % 2, "site", "global")}

# Messages that are numpy's or scipy's own words: a ValueError that says
# only these tells the user nothing about their data.
_INTERNAL = (
    "zero-size array",
    "could not be broadcast",
    "out of bounds for",
    "singular matrix",
    "must not contain infs or nans",
)


def outcome(func, *args):
    """Run ``func``; return its output, or None if it raised a named error.

    A numpy ``RuntimeWarning`` (overflow, division by zero, invalid value) is
    an error here: it is how a NaN answer begins.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        # scipy's note that a wrapped Ridge met a near-singular system: the
        # answer is still finite, which is checked below.
        warnings.simplefilter("ignore", LinAlgWarning)
        try:
            out = func(*args)
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            assert len(msg) > 20, f"{type(exc).__name__} without a useful message: {msg!r}"
            low = msg.lower()
            assert not any(s in low for s in _INTERNAL), f"numpy's words only: {msg!r}"
            return None
    if hasattr(out, "get_params"):  # a fitted estimator
        return out
    arr = np.asarray(out)
    assert arr.dtype != object
    assert np.isfinite(arr).all(), f"non-finite output {arr!r}"
    return out


# --- strategies --------------------------------------------------------------------

_SCALES = [1.0, 100.0, 1e-30, 1e30, 1e-100, 1e100]


@st.composite
def good_arrays(draw, min_rows=1, max_rows=6, min_cols=1, max_cols=8):
    n = draw(st.integers(min_rows, max_rows))
    p = draw(st.integers(min_cols, max_cols))
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.sampled_from(_SCALES))
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.6, size=(n, p)) * scale


@st.composite
def bad_arrays(draw):
    """A small array with one of the defects real spectra files have."""
    kind = draw(
        st.sampled_from(
            ["finite", "nan", "inf", "empty_rows", "empty_cols", "one_row", "one_col",
             "constant_rows", "negative", "zeros", "1d", "3d", "object", "mixed_scale"]
        )
    )
    X = draw(good_arrays())
    n, p = X.shape
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind in ("nan", "inf"):
        X[rng.integers(n), rng.integers(p)] = np.nan if kind == "nan" else -np.inf
    elif kind == "empty_rows":
        X = X[:0]
    elif kind == "empty_cols":
        X = X[:, :0]
    elif kind == "one_row":
        X = X[:1]
    elif kind == "one_col":
        X = X[:, :1]
    elif kind == "constant_rows":
        X[:] = X[:, :1]
    elif kind == "negative":
        X = -X
    elif kind == "zeros":
        X = np.zeros_like(X)
    elif kind == "1d":
        X = X[0]
    elif kind == "3d":
        X = X[:, :, None]
    elif kind == "object":
        X = X.astype(object)
        X[rng.integers(n), rng.integers(p)] = draw(st.sampled_from(["abc", None, "1,5"]))
    elif kind == "mixed_scale":
        X[rng.integers(n)] *= draw(st.sampled_from([1e-40, 1e40]))
    return X


def bad_grids(p):
    """Axes of ``p`` wavelengths that are unordered, repeated, or not finite."""
    base = 400.0 + 2.0 * np.arange(p)
    return st.sampled_from(["repeat", "unordered", "descending", "nan", "short", "constant"]).map(
        lambda kind: {
            "repeat": np.r_[base[:1], base[:-1]],
            "unordered": np.r_[base[1:2], base[:1], base[2:]] if p > 1 else base,
            "descending": base[::-1].copy(),
            "nan": np.r_[np.nan, base[1:]],
            "short": base[:-1],
            "constant": np.full(p, 500.0),
        }[kind]
    )


# --- transformers ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
@SETTINGS
@given(X=bad_arrays())
def test_transformer_fit_transform_on_bad_arrays(name, X):
    outcome(lambda: clone(TRANSFORMERS[name]).fit_transform(X))


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
@SETTINGS
@given(data=st.data())
def test_transformer_transform_of_bad_arrays_after_a_good_fit(name, data):
    good = data.draw(good_arrays(min_rows=3, min_cols=4))
    tr = outcome(lambda: clone(TRANSFORMERS[name]).fit(good))
    if tr is None:
        return
    bad = data.draw(bad_arrays())
    outcome(tr.transform, bad)


@pytest.mark.parametrize(
    "name", sorted(n for n, t in TRANSFORMERS.items() if "wavelengths" in t.get_params())
)
@SETTINGS
@given(data=st.data())
def test_transformer_on_bad_wavelength_grids(name, data):
    X = data.draw(good_arrays(min_rows=2, min_cols=4, max_cols=8))
    grid = data.draw(bad_grids(X.shape[1]))
    tr = clone(TRANSFORMERS[name]).set_params(wavelengths=grid)
    outcome(tr.fit_transform, X)


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
@SETTINGS
@given(data=st.data())
def test_transformer_on_dataframes_with_bad_wavelength_columns(name, data):
    X = data.draw(good_arrays(min_rows=2, min_cols=4, max_cols=8))
    grid = data.draw(bad_grids(X.shape[1]))
    if grid.size != X.shape[1]:
        grid = np.r_[grid, grid[-1:]]  # the short grid as a repeated last column
    frame = pd.DataFrame(X, columns=[f"wl_{w:g}" for w in grid])
    tr = clone(TRANSFORMERS[name])
    if tr.get_params().get("wavelengths") == "index":
        tr.set_params(wavelengths=None)  # the axis comes from the column names
    outcome(tr.fit_transform, frame)


# --- baselines ---------------------------------------------------------------------


@st.composite
def targets(draw, n):
    kind = draw(st.sampled_from(["normal", "nan", "all_nan", "inf", "constant", "2d",
                                 "wrong_length", "object"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    y = rng.normal(size=n) * draw(st.sampled_from([1.0, 1e-30, 1e30, 1e100]))
    if kind == "nan" and n:
        y[rng.integers(n)] = np.nan
    elif kind == "all_nan":
        y[:] = np.nan
    elif kind == "inf" and n:
        y[rng.integers(n)] = np.inf
    elif kind == "constant":
        y[:] = 2.5
    elif kind == "2d":
        y = np.column_stack([y, rng.normal(size=n)])
    elif kind == "wrong_length":
        y = y[:-1] if n else np.ones(1)
    elif kind == "object" and n:
        y = y.astype(object)
        y[0] = "n/a"
    return y


@pytest.mark.parametrize("name", sorted(REGRESSORS))
@SETTINGS
@given(data=st.data())
def test_regressor_fit_on_bad_arrays(name, data):
    X = data.draw(bad_arrays())
    n = X.shape[0] if X.ndim else 0
    y = data.draw(targets(n))

    def fit_predict():
        model = clone(REGRESSORS[name]).fit(X, y, **fit_params(name, n))
        return model.predict(X)

    outcome(fit_predict)


@pytest.mark.parametrize("name", sorted(REGRESSORS))
@SETTINGS
@given(data=st.data())
def test_regressor_predict_bad_arrays_after_a_good_fit(name, data):
    X = data.draw(good_arrays(min_rows=8, max_rows=10, min_cols=4))
    y = np.random.default_rng(0).normal(size=X.shape[0])
    model = outcome(lambda: clone(REGRESSORS[name]).fit(X, y, **fit_params(name, len(y))))
    if model is None:
        return
    outcome(model.predict, data.draw(bad_arrays()))


# --- Absorbance: one value never decides the unit ----------------------------------


@SETTINGS
@given(
    X=good_arrays(min_rows=3, min_cols=3),
    spike=st.floats(1.5, 1e6),
    percent=st.booleans(),
    data=st.data(),
)
def test_absorbance_unit_survives_one_odd_value(X, spike, percent, data):
    X = X / X.max() * 0.9  # fractions
    if percent:
        X = X * 100 + 5.0  # percent reflectance of an ordinary soil
        spike = 1.0 / spike
    i = data.draw(st.integers(0, X.shape[0] - 1))
    j = data.draw(st.integers(0, X.shape[1] - 1))
    X[i, j] = spike
    assert pp.Absorbance().fit(X).percent_ is percent
