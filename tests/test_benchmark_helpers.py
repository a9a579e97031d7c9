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


def test_records_keep_the_source_networks_recorded_gap(tmp_path):
    # seen_rows_rule.py's fourth round scales the in-sample residuals by the
    # gap the source network recorded: validation over training RMSE, >= 1.
    bench, rules = _load("localised_limesoda"), _load("combination_rules")
    from sklearn.cross_decomposition import PLSRegression

    from sklearn_soilspec.localised import train_source_model

    lib = make_spectra(120, n_domains=2, wavelengths=range(400, 2500, 20), random_state=0)
    lib = lib.as_frame()
    X, Y, Xt, Yt = lib.X.iloc[:30], lib.Y.iloc[:30], lib.X.iloc[100:], lib.Y.iloc[100:]
    tiny = {"channels": (4,), "shared_units": (8,), "head_units": 8}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = train_source_model(lib.subset(np.arange(100)), max_epochs=2, module_params=tiny)
        for k, source in enumerate((net, PLSRegression(5).fit(X, Y))):
            with bench.record_candidates() as seen:
                model = LocalisedRegressor(source, members=["source", "plsr"], cv=3).fit(X, Y)
            bench.save_candidates(tmp_path / str(k) / "candidates" / "site_fold1.npz", model,
                                  seen, X, Y, Xt, Yt)
    (rec,) = rules.load([tmp_path / "0"])
    errors = net[-1].training_summary_["rmse"]
    expected = [max(1.0, errors["validation"][t] / errors["training"][t]) for t in Y.columns]
    np.testing.assert_allclose(rec["source_gap"], expected)
    assert rec["source_seen"].all()
    (plain,) = rules.load([tmp_path / "1"])
    assert plain["source_gap"] is None  # a PLSR source records none
