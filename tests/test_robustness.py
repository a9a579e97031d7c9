"""Input that used to give a wrong answer silently: now the right one, or an error."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_soilspec.baselines import (
    MemoryBasedRegressor,
    PCAGaussianProcessRegressor,
    PLSRegressionCV,
    SpikedRegressor,
)
from sklearn_soilspec.baselines._local_pls import wapls_weights
from sklearn_soilspec.preprocessing import Absorbance


@pytest.fixture
def fractions():
    rng = np.random.default_rng(0)
    return rng.uniform(0.05, 0.6, size=(20, 30))


# --- Absorbance: the unit of reflectance ----------------------------------------


def test_one_bright_value_does_not_make_a_library_percent(fractions):
    R = fractions.copy()
    R[3, 4] = 40.0  # a spike, or one spectrum saturated at a wavelength
    ab = Absorbance().fit(R)
    assert not ab.percent_
    np.testing.assert_allclose(ab.transform(fractions), -np.log10(fractions))


def test_percent_library_is_still_detected(fractions):
    assert Absorbance().fit(fractions * 100).percent_


def test_ambiguous_unit_warns(fractions):
    with pytest.warns(UserWarning, match=r"typical reflectance is 1\.\d+.*percent=True or"):
        ab = Absorbance().fit(fractions + 1.0)
    assert not ab.percent_


def test_clear_units_do_not_warn(fractions):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Absorbance().fit(fractions)
        Absorbance().fit(fractions * 100)


def test_percent_given_to_a_transformer_fitted_on_fractions_is_an_error(fractions):
    ab = Absorbance().fit(fractions)
    with pytest.raises(ValueError, match=r"fitted on reflectance in fractions.*20 of 20 "
                       r"spectra look like percent.*divide them by 100"):
        ab.transform(fractions * 100)


def test_fractions_given_to_a_transformer_fitted_on_percent_is_an_error(fractions):
    ab = Absorbance().fit(fractions * 100)
    with pytest.raises(ValueError, match=r"fitted on reflectance in percent.*look like "
                       r"fractions.*first at row 0.*multiply them by 100"):
        ab.transform(fractions)


def test_inverse_mode_checks_the_unit_of_the_reflectance_it_takes_back(fractions):
    ab = Absorbance(inverse=True).fit(-np.log10(fractions))
    with pytest.raises(ValueError, match="look like percent"):
        ab.inverse_transform(fractions * 100)


def test_explicit_unit_contradicted_by_every_spectrum_is_an_error(fractions):
    with pytest.raises(ValueError, match=r"told percent=True.*pass percent=False"):
        Absorbance(percent=True).fit(fractions)
    with pytest.raises(ValueError, match=r"told percent=False.*pass percent=True"):
        Absorbance(percent=False).fit(fractions * 100)


def test_a_library_mixing_units_is_an_error(fractions):
    mixed = np.vstack([fractions, fractions[:5] * 100])
    with pytest.raises(ValueError, match=r"5 of 25 spectra look like percent.*first at "
                       r"row 20.*mixes units"):
        Absorbance().fit(mixed)


def test_absorbance_without_finite_reflectance_is_an_error():
    with pytest.raises(ValueError, match="no finite reflectance"):
        Absorbance(inverse=True).fit_transform(np.full((2, 3), -400.0))
    with pytest.raises(ValueError, match="no finite reflectance"):
        Absorbance().fit(np.full((2, 3), 0.5)).inverse_transform(np.full((2, 3), -400.0))


# --- MemoryBasedRegressor: constant neighbourhoods ------------------------------


@pytest.mark.parametrize("local_model, comps", [("wapls", (3, 15)), ("pls", 5)])
def test_mbl_predicts_the_constant_of_a_constant_neighbourhood(local_model, comps):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 30))
    y = np.full(80, 3.0)
    model = MemoryBasedRegressor(n_neighbors=30, space="spectra", metric="euclidean",
                                 local_model=local_model, pls_components=comps)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        pred = model.fit(X, y).predict(X[:5])
    np.testing.assert_allclose(pred, 3.0)


def test_mbl_predicts_a_locally_constant_property():
    # Two clusters of spectra; the property is constant within the second.
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(40, 20)), 50 + rng.normal(size=(40, 20))])
    y = np.r_[rng.normal(size=40), np.full(40, 7.5)]
    pred = MemoryBasedRegressor(n_neighbors=20, space="spectra", metric="euclidean").fit(
        X, y).predict(X[40:45])
    np.testing.assert_allclose(pred, 7.5)


def test_wapls_weights_of_zero_products_are_equal_not_zero():
    w = wapls_weights(np.ones((2, 13)), np.zeros((2, 13)))
    np.testing.assert_allclose(w, 1 / 13)
    w = wapls_weights(np.array([[1.0, 2.0, 4.0]]), np.ones((1, 3)))
    np.testing.assert_allclose(w, [[4 / 7, 2 / 7, 1 / 7]])


# --- baselines: degenerate spectra ----------------------------------------------


def test_pls_cv_components_never_exceed_the_rank_of_the_spectra():
    # Two identical wavelengths: distinct spectra of rank 1.
    rng = np.random.default_rng(0)
    X = np.repeat(rng.uniform(0.1, 0.6, size=(6, 1)), 2, axis=1)
    y = rng.normal(size=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = PLSRegressionCV(max_components=3, cv=2, random_state=0).fit(X, y)
    assert model.max_components_ == 1
    assert np.isfinite(model.predict(X)).all()


def test_identical_library_spectra_are_an_error_for_mbl_and_the_gp():
    with pytest.raises(ValueError, match="All 5 library spectra are identical"):
        MemoryBasedRegressor(n_neighbors=3).fit(np.ones((5, 4)), np.arange(5.0))
    with pytest.raises(ValueError, match="All 5 spectra are identical"):
        PCAGaussianProcessRegressor().fit(np.ones((5, 4)), np.arange(5.0))


@pytest.mark.parametrize("scale", [1e-100, 1e100])
@pytest.mark.parametrize(
    "model",
    [PLSRegressionCV(max_components=2, cv=2), MemoryBasedRegressor(n_neighbors=3),
     PCAGaussianProcessRegressor(n_components=2, n_restarts_optimizer=0)],
    ids=lambda m: type(m).__name__,
)
def test_spectra_of_absurd_magnitude_are_named(model, scale):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0.1, 0.6, size=(8, 5)), rng.normal(size=8)
    with pytest.raises(ValueError, match=r"reach at most .* check the units, or rescale"):
        clone(model).fit(X * scale, y)
    fitted = clone(model).fit(X, y)
    with pytest.raises(ValueError, match="outside 1e-30 to 1e"):
        fitted.predict(X * scale)


def test_a_damaged_fitted_model_is_named_not_predicting_nan():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 6)), rng.normal(size=20)
    pls = PLSRegressionCV(max_components=2, cv=2, random_state=0).fit(X, y)
    pls.estimators_[0].coef_[:] = np.nan
    with pytest.raises(ValueError, match="fitted attributes were changed or damaged"):
        pls.predict(X)
    mbl = MemoryBasedRegressor(n_neighbors=5, pls_components=2).fit(X, y)
    mbl.library_X_ = np.full_like(mbl.library_X_, np.nan)
    with pytest.raises(ValueError, match="MemoryBasedRegressor predicts NaN"):
        mbl.predict(X)
    gp = PCAGaussianProcessRegressor(n_components=2, n_restarts_optimizer=0).fit(X, y)
    gp.estimators_[0].alpha_[:] = np.nan
    with pytest.raises(ValueError, match="PCAGaussianProcessRegressor predicts NaN"):
        gp.predict(X)


def test_spiked_regressor_names_a_target_of_the_wrong_length():
    X = np.random.default_rng(0).normal(size=(6, 3))
    groups = np.array(["global", "site"] * 3)
    spiked = SpikedRegressor(PLSRegressionCV(max_components=2, cv=2), local_domain="site")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        spiked.fit(X, np.ones(5), groups=groups)


@pytest.mark.parametrize(
    "model",
    [PLSRegressionCV(max_components=2, cv=2), MemoryBasedRegressor(n_neighbors=3),
     PCAGaussianProcessRegressor(n_components=2, n_restarts_optimizer=0)],
    ids=lambda m: type(m).__name__,
)
def test_targets_of_absurd_magnitude_are_named(model):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0.1, 0.6, size=(8, 5)), rng.normal(size=8)
    y[0] = np.nan  # not measured: ignored by the check
    with pytest.raises(ValueError, match=r"the targets reach at most .* rescale y"):
        clone(model).fit(X, y * 1e100)
