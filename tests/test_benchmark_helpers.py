"""The benchmarks' own helpers keep working with the package they measure."""

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np

from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import LocalisedRegressor

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import each other by name
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_candidates_are_recorded_and_scored_as_the_model_scores_them(tmp_path):
    # localised_limesoda.py --candidates spies on the cross-fit; a change of
    # its signature once broke every benchmark run that kept candidates.
    bench, rules = _load("localised_limesoda"), _load("combination_rules")
    lib = make_spectra(60, n_domains=1, wavelengths=range(400, 2500, 20), random_state=0)
    lib = lib.as_frame()
    from sklearn.dummy import DummyRegressor

    X, Y, Xt, Yt = lib.X.iloc[:40], lib.Y.iloc[:40], lib.X.iloc[40:], lib.Y.iloc[40:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with bench.record_candidates() as seen:
            model = LocalisedRegressor(DummyRegressor().fit(X, Y), members=["plsr", "mean"],
                                       cv=3).fit(X, Y, groups=np.arange(40) // 2)
        path = tmp_path / "candidates" / "site_fold1.npz"
        bench.save_candidates(path, model, seen, X, Y, Xt, Yt)
        (rec,) = rules.load([tmp_path])
        W, ranges = rules.package_rule(rec, 0.3, 1.5, "equal", narrowing=2.0)
    np.testing.assert_allclose(rules.predict(rec, W, ranges), model.predict(Xt))


def test_interval_coverage_scores_the_intervals_the_model_makes(tmp_path):
    # interval_coverage.py rebuilds the model's intervals from a record; on
    # rows the source saw they rest on the candidates not built on it.
    bench, rules = _load("localised_limesoda"), _load("combination_rules")
    from sklearn.cross_decomposition import PLSRegression

    lib = make_spectra(90, n_domains=2, wavelengths=range(400, 2500, 20), random_state=1)
    lib = lib.as_frame()
    X, Y, Xt, Yt = lib.X.iloc[:30], lib.Y.iloc[:30], lib.X.iloc[60:], lib.Y.iloc[60:]
    library = (lib.X.iloc[:60], lib.Y.iloc[:60])  # holds the local rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with bench.record_candidates() as seen:
            model = LocalisedRegressor(PLSRegression(10).fit(X, Y), library=library,
                                       members=["source", "plsr", "mbl"], cv=3).fit(X, Y)
        bench.save_candidates(tmp_path / "candidates" / "site_fold1.npz", model, seen, X, Y,
                              Xt, Yt)
        (rec,) = rules.load([tmp_path])
        rule = rules.second_round_rules()[rules.narrowed(2)]
        _, halves = rules.apply(rec, rule)
        _, before = rules.apply(rec, rule, correct_seen=False)
    assert rec["source_seen"].all() and (model.weights_.loc["source"] > 0).any()
    np.testing.assert_allclose(halves, model.interval_halfwidth_)
    assert (before < halves).any()
