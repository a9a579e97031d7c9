"""What the localised model and the main command cost: parallel fits, nothing trained twice."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import LocalisedRegressor, train_source_model
from sklearn_soilspec.localised import _combine

torch.set_num_threads(1)

TINY = {"channels": (4,), "shared_units": (8,), "head_units": 8}
WL = np.arange(400.0, 2500.0, 20.0)


@pytest.fixture(scope="module")
def split():
    lib = make_spectra(300, n_domains=3, wavelengths=WL, targets=("OC", "clay"),
                       random_state=0).as_frame()
    local, glob = lib.split_domain("domain_2")
    return local.subset(np.arange(40)), glob


@pytest.fixture(scope="module")
def source(split):
    return train_source_model(split[1], max_epochs=3, module_params=TINY)


def _fit(source, split, **kw):
    local, glob = split
    model = LocalisedRegressor(source, library=glob, fine_tune={"max_epochs": 3}, cv=3, **kw)
    return model.fit(local.X, local.Y)


@pytest.fixture(scope="module")
def sequential(source, split):
    return _fit(source, split)


@pytest.fixture(scope="module")
def parallel(source, split):
    return _fit(source, split, n_jobs=2)


def test_parallel_fit_is_the_sequential_one(sequential, parallel, split):
    # Every candidate seeds itself: the same out-of-fold RMSE, weights and
    # predictions whichever process fitted it.
    a, b = sequential.localisation_report_, parallel.localisation_report_
    assert list(a["candidate"]) == list(b["candidate"])
    np.testing.assert_allclose(a["oof_rmse"], b["oof_rmse"], rtol=1e-5)
    np.testing.assert_allclose(sequential.weights_, parallel.weights_, atol=1e-6)
    X = split[0].X
    np.testing.assert_allclose(sequential.predict(X), parallel.predict(X), rtol=1e-5)


def test_parallel_fit_keeps_one_source_and_one_library(sequential, split):
    # Workers return copies; the fold models point at the caller's source
    # and library again, as after a sequential fit, not one copy per fold.
    local, _ = split
    X, Y = local.X.to_numpy(dtype=float), local.Y.to_numpy(dtype=float)
    members = sequential._build_members(X, Y)
    chosen = [(m, members[m]) for m in ("fine_tuned", "mbl", "plsr")]
    splits = _combine.folds(len(X), 3, 0)
    _, fold_models, _ = _combine.cross_fit_members(chosen, X, Y, splits, n_jobs=2)
    view, library = members["fine_tuned"].view, members["mbl"].library_X
    for fitted in fold_models["fine_tuned"]:
        assert fitted.view is view
        assert all(net.warm_start_from is view.final for net in fitted.estimators_)
    assert all(fitted.library_X is library for fitted in fold_models["mbl"])
    assert len(fold_models["plsr"]) == 3


def test_parallel_fit_raises_the_warnings_of_its_workers(source, split):
    local, glob = split
    with pytest.warns(UserWarning, match="outside|left out|unlike|range") as record:
        warnings.simplefilter("always")
        # A library measured in other units: its members' warnings come back.
        bad = glob.as_frame()
        LocalisedRegressor(source, library=(bad.X, bad.Y * 1000.0), members=[
            "source", "spiked_plsr", "plsr", "mean"], cv=3, n_jobs=2).fit(local.X, local.Y)
    assert record


def test_rewarn_and_reshare_helpers():
    with pytest.warns(RuntimeWarning, match="from a worker"):
        _combine._rewarn([(RuntimeWarning, "from a worker")])

    class Member:
        _shared = ("library_X",)

        def __init__(self, library_X):
            self.library_X = library_X

    library = np.zeros(3)
    back = _combine.reshare(Member(library.copy()), Member(library))
    assert back.library_X is library
