"""Baselines on real vis-NIR data: LimeSoDa sites, one local and the others global."""

import numpy as np
import pytest
from sklearn.model_selection import KFold

from sklearn_soilspec.baselines import MemoryBasedRegressor, PLSRegressionCV, SpikedRegressor
from sklearn_soilspec.preprocessing import parse_wavelengths, resample_spectra

LimeSoDa = pytest.importorskip("LimeSoDa")

# The range every site below covers (SSP.58 and MG.44 stop at 2153 nm).
GRID = np.arange(440.0, 2151.0, 10.0)
SITES = ["SSP.460", "CV.98", "SC.93", "MG.44", "SSP.58"]
# SSP.58 and MG.44 report SOC per dm3 (g/dm3); the others in %.
OC_TO_PERCENT = {"SSP.58": 0.1, "MG.44": 0.1}


def _site(name):
    frame = LimeSoDa.load_dataset(name)["Dataset"]
    cols = [c for c in frame.columns if c.startswith("wl_")]
    reflectance = resample_spectra(frame[cols].to_numpy(float), parse_wavelengths(cols), GRID)
    oc = frame["SOC_target"].to_numpy(float) * OC_TO_PERCENT.get(name, 1.0)
    return np.log10(100.0 / reflectance), oc


@pytest.fixture(scope="module")
def sites():
    return {name: _site(name) for name in SITES}


def _split(sites, local):
    Xg = np.vstack([sites[s][0] for s in SITES if s != local])
    yg = np.concatenate([sites[s][1] for s in SITES if s != local])
    return Xg, yg, *sites[local]


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _local_folds(n_global, n_local):
    """Test folds of local rows only; training: all global rows + other local rows."""
    local = np.arange(n_global, n_global + n_local)
    kf = KFold(5, shuffle=True, random_state=0)
    return [(np.r_[np.arange(n_global), local[tr]], local[te]) for tr, te in kf.split(local)]


def test_pls_cv_picks_a_sensible_number_of_components(sites):
    X, y = sites["SSP.460"]
    model = PLSRegressionCV(max_components=25, random_state=0).fit(X, y)
    # vis-NIR OC models need several components but far fewer than allowed.
    assert 3 <= model.n_components_ <= 20
    best = model.cv_rmse_[model.n_components_ - 1]
    # The curve falls, then rises again once components fit noise.
    assert best < model.cv_rmse_[0] and best < model.cv_rmse_[-1] and best < 0.8 * y.std()
    parsimonious = PLSRegressionCV(25, one_standard_error=True, random_state=0).fit(X, y)
    assert parsimonious.n_components_ <= model.n_components_


@pytest.mark.parametrize("local", ["SSP.58", "CV.98"])
def test_spiked_plsr_at_least_as_good_as_global_plsr(sites, local):
    Xg, yg, Xl, yl = _split(sites, local)
    X, y = np.vstack([Xg, Xl]), np.r_[yg, yl]
    groups = np.r_[np.zeros(len(yg), int), np.ones(len(yl), int)]
    folds = _local_folds(len(yg), len(yl))
    spiked = SpikedRegressor(PLSRegressionCV(20, random_state=0), spike_weight=5, local_domain=1)
    spiked_err, global_err = [], []
    for train, test in folds:
        model = spiked.fit(X[train], y[train], groups=groups[train])
        spiked_err.append(model.predict(X[test]) - y[test])
        glob = PLSRegressionCV(20, random_state=0).fit(Xg, yg)
        global_err.append(glob.predict(X[test]) - y[test])
    spiked_rmse = _rmse(np.concatenate(spiked_err), 0)
    global_rmse = _rmse(np.concatenate(global_err), 0)
    assert spiked_rmse <= global_rmse


def test_mbl_is_finite_and_beats_global_plsr_on_a_site(sites):
    wins = {}
    for local in ["SSP.58", "MG.44", "CV.98", "SC.93"]:
        Xg, yg, Xl, yl = _split(sites, local)
        global_rmse = _rmse(PLSRegressionCV(20, random_state=0).fit(Xg, yg).predict(Xl), yl)
        # The local site's own samples (other folds) join the library, spiked.
        X, y = np.vstack([Xg, Xl]), np.r_[yg, yl]
        is_local = np.r_[np.zeros(len(yg), bool), np.ones(len(yl), bool)]
        pred = np.empty_like(yl)
        for train, test in _local_folds(len(yg), len(yl)):
            mbl = MemoryBasedRegressor(n_neighbors=100, spike=True)
            mbl.fit(X[train], y[train], is_local=is_local[train])
            pred[test - len(yg)] = mbl.predict(X[test])
        assert np.isfinite(pred).all()
        wins[local] = (_rmse(pred, yl), global_rmse)
    assert any(mbl_rmse < global_rmse for mbl_rmse, global_rmse in wins.values()), wins


def test_mbl_from_the_global_library_alone_is_finite(sites):
    Xg, yg, Xl, yl = _split(sites, "CV.98")
    pred = MemoryBasedRegressor(n_neighbors=[50, 100, 200], random_state=0).fit(Xg, yg).predict(Xl)
    assert pred.shape == yl.shape and np.isfinite(pred).all()
