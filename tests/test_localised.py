"""LocalisedRegressor: fallbacks, small and gappy local sets, intervals, the source builder."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_soilspec.baselines import PLSRegressionCV
from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import (
    LocalisedRegressor,
    make_source_model,
    plot_localisation,
    train_source_model,
)
from sklearn_soilspec.localised._combine import conformal_quantile, option_grid
from sklearn_soilspec.neural import SpectralCNNRegressor
from sklearn_soilspec.preprocessing import SavitzkyGolay

torch.set_num_threads(1)

TINY = {"channels": (4,), "shared_units": (8,), "head_units": 8}
WL = np.arange(400.0, 2500.0, 20.0)  # 105 points: quick, still a spectrum
# Fine-tuning of the default tests: a few epochs are enough to exercise it.
QUICK = {"max_epochs": 3}
LOCAL_ONLY = ["plsr", "mean"]


def _library(n=400, n_domains=4, seed=0, **kw):
    return make_spectra(n, n_domains=n_domains, wavelengths=WL, targets=("OC", "clay"),
                        random_state=seed, **kw).as_frame()


def _pls_source(X, Y):
    return Pipeline([("sg", SavitzkyGolay(deriv=1)),
                     ("pls", PLSRegressionCV(12, random_state=0))]).fit(X, Y)


@pytest.fixture(scope="module")
def split():
    local, glob = _library().split_domain("domain_3")
    return local, glob


@pytest.fixture(scope="module")
def cnn_source(split):
    _, glob = split
    return train_source_model(glob, max_epochs=3, module_params=TINY)


# -- scikit-learn's common checks ---------------------------------------------------------

def _check_source():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 10))
    tiny = dict(module_params={"channels": (2,), "kernel_size": 3, "shared_units": (4,),
                               "head_units": 4}, max_epochs=2, batch_size=16, random_state=0)
    return SpectralCNNRegressor(**tiny).fit(X, X[:, 0])


_HASH = ("joblib.hash cannot hash a fitted SpectralCNNRegressor, and the source is a "
         "parameter: skorch's LR scheduler holds the optimizer, whose state is keyed by "
         "tensors that cannot be sorted, and a pickled tensor names its storage by address, "
         "so the check's deep copy hashes differently even without the scheduler")
# The common checks feed arrays of their own widths; the source takes 10 columns and a
# wider or narrower array without wavelengths cannot be put on its grid.
_WIDTH = "the check's array has another number of columns than the source model takes"


def _expected(estimator):
    return {"check_estimators_overwrite_params": _HASH}


@parametrize_with_checks([LocalisedRegressor(_check_source(), cv=2, fine_tune={"max_epochs": 2})],
                         expected_failed_checks=_expected)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


# -- fallbacks -------------------------------------------------------------------------------

def test_falls_back_to_the_source_when_it_is_near_perfect():
    # One population: the local site lies inside the global library, whose
    # 1,000 spectra make a PLSR far better than 25 local ones can.
    lib = make_spectra(1100, n_domains=1, wavelengths=WL, targets=("OC", "clay"),
                       domain_shift=0.0, random_state=1).as_frame()
    source = _pls_source(lib.X.iloc[:1000], lib.Y.iloc[:1000])
    local_X, local_Y = lib.X.iloc[1000:1025], lib.Y.iloc[1000:1025]
    model = LocalisedRegressor(source, members=["source", "source_corrected", "plsr", "gpr",
                                                "mean"]).fit(local_X, local_Y)
    on_source = model.weights_.loc[["source", "source_corrected"]].sum()
    assert (on_source == 1.0).all(), model.localisation_report_
    test_X, test_Y = lib.X.iloc[1025:], lib.Y.iloc[1025:].to_numpy()
    rmse = np.sqrt(np.mean((model.predict(test_X) - test_Y) ** 2, axis=0))
    rmse_source = np.sqrt(np.mean((source.predict(test_X) - test_Y) ** 2, axis=0))
    assert (rmse <= 1.1 * rmse_source).all()


def test_falls_back_to_local_plsr_when_the_source_is_garbage(split):
    local, glob = split
    rng = np.random.default_rng(0)
    shuffled = glob.Y.iloc[rng.permutation(len(glob.Y))].set_axis(glob.Y.index)
    source = _pls_source(glob.X, shuffled)
    model = LocalisedRegressor(source, members=["source", "source_corrected", "plsr"]).fit(
        local.X.iloc[:40], local.Y.iloc[:40])
    w = model.weights_
    assert (w.loc[["source", "source_corrected"]] == 0).all().all(), model.localisation_report_
    assert (w.loc["plsr"] == 1).all()
    rep = model.localisation_report_.set_index(["property", "candidate"])
    assert (rep.xs("localised", level="candidate")["vs_source_pct"] < -30).all()
    assert (rep.xs("localised", level="candidate")["vs_plsr_pct"] == 0).all()


def test_margin_keeps_the_simple_choice_at_small_n():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    a = y + rng.normal(scale=0.5, size=400)
    b = y + rng.normal(scale=0.5, size=400)
    P = np.vstack([a, b])
    eligible = np.array([True, True])
    # The equal blend of two equally noisy members is ~29 % better. Told the
    # evidence rests on 2 rows, margin 1.0 asks for 1/sqrt(2) = 71 % and the
    # rule keeps one member; on 400 rows it asks for 5 % and takes the blend.
    w, label, _ = option_grid(P, y, eligible, ["a", "b"], n=2, margin=1.0)
    assert sorted(w.tolist()) == [0.0, 1.0] and "equal" not in label
    w, label, _ = option_grid(P, y, eligible, ["a", "b"], n=400, margin=1.0)
    assert np.allclose(w, 0.5) and label.startswith("equal")
    # A member that is not eligible never gets weight.
    w, _, _ = option_grid(P, y, np.array([True, False]), ["a", "b"], n=400, margin=0.0)
    assert w.tolist() == [1.0, 0.0]


def _free_weight_choices(n, seeds=40):
    """How often free weights win over six equally noisy members on ``n`` rows."""
    picked = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        y = rng.normal(size=n)
        P = y + rng.normal(size=(6, n))
        _, label, _ = option_grid(P, y, np.ones(6, bool), [f"m{i}" for i in range(6)], n=n,
                                  margin=0.3)
        picked += label.startswith("weights(")
    return picked


def test_free_weights_are_scored_on_rows_they_were_not_fitted_on():
    # Fitted to ten rows, free weights find chance cancellations of the
    # members' errors and looked better than every equal blend in 36 of 40
    # draws when scored on the same rows; cross-validated, they rarely win.
    assert _free_weight_choices(10) <= 12
    # On 100 rows weights over all six members are a real gain over blends
    # of at most four, and they are still taken.
    assert _free_weight_choices(100) >= 30


# -- small, gappy and partial local sets ------------------------------------------------------

def test_eight_local_samples_with_every_member(split, cnn_source):
    local, glob = split
    model = LocalisedRegressor(cnn_source, library=glob, fine_tune=QUICK, random_state=0)
    model.fit(local.X.iloc[:8], local.Y.iloc[:8])
    rep = model.localisation_report_
    assert set(rep["candidate"]) == {"source", "source_corrected", "fine_tuned", "plsr", "gpr",
                                     "gpr_d2", "mbl", "spiked_plsr", "mean", "localised"}
    pred = model.predict(local.X.iloc[8:])
    assert pred.shape == (len(local.X) - 8, 2) and np.isfinite(pred).all()
    assert np.allclose(model.weights_.sum(), 1.0)
    # The network fine-tuned on 8 rows is cross-fitted: its fold models predict.
    if "fine_tuned" in model.members_:
        assert len(model.members_["fine_tuned"].estimators_) == 5


def test_property_measured_on_few_rows(split, cnn_source):
    local, _ = split
    X, Y = local.X.iloc[:20], local.Y.iloc[:20].copy()
    Y.iloc[4:, 1] = np.nan  # clay measured on 4 rows only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LocalisedRegressor(cnn_source, fine_tune=QUICK).fit(X, Y)
    pred = model.predict(local.X.iloc[20:])
    assert np.isfinite(pred).all()
    clay = Y.iloc[:4, 1]
    span = clay.max() - clay.min()
    assert (pred[:, 1] > clay.min() - 3 * span - 1e-9).all()
    assert (pred[:, 1] < clay.max() + 3 * span + 1e-9).all()
    rep = model.localisation_report_
    assert (rep.loc[rep["property"] == "clay", "n_rows"] == 4).all()


def test_implausible_member_is_dropped_with_a_warning(split):
    local, _ = split
    X, Y = local.X.iloc[:20], local.Y.iloc[:20]
    wild = DummyRegressor(strategy="constant", constant=[1e6, 1e6]).fit(X, Y)
    with pytest.warns(UserWarning, match="implausible"):
        model = LocalisedRegressor(wild, members=["source", "plsr"]).fit(X, Y)
    assert (model.weights_.loc["source"] == 0).all()
    assert np.abs(model.predict(local.X.iloc[20:])).max() < 1e3


def test_source_predicting_some_properties(split):
    local, glob = split
    source = _pls_source(glob.X, glob.Y[["OC"]])
    source[-1].target_names_ = ["OC"]  # what a network or model file declares
    model = LocalisedRegressor(source, members=["source", "source_corrected", "plsr"]).fit(
        local.X.iloc[:30], local.Y.iloc[:30])
    rep = model.localisation_report_.set_index(["property", "candidate"])["status"]
    assert rep["clay", "source"] == "not applicable"
    assert rep["OC", "source"] != "not applicable"
    assert model.weights_.loc["plsr", "clay"] == 1.0


def test_array_with_wavelengths_equals_dataframe(split):
    local, glob = split
    source = _pls_source(glob.X, glob.Y)
    kw = dict(members=["source_corrected", "plsr"], cv=3)
    a = LocalisedRegressor(source, **kw).fit(local.X.iloc[:30], local.Y.iloc[:30])
    b = LocalisedRegressor(source, wavelengths=WL, **kw).fit(
        local.X.iloc[:30].to_numpy(), local.Y.iloc[:30].to_numpy())
    assert np.allclose(a.predict(local.X.iloc[30:]), b.predict(local.X.iloc[30:].to_numpy()))
    assert b.target_names_ == ["target_0", "target_1"]


# -- intervals -----------------------------------------------------------------------------

def test_conformal_quantile_is_the_finite_sample_rank():
    r = np.arange(1.0, 10.0)  # 9 residuals
    assert conformal_quantile(r, 0.1) == 9.0  # ceil(10 * 0.9) = 9th smallest
    assert conformal_quantile(r, 0.5) == 5.0  # ceil(10 * 0.5) = 5th
    assert conformal_quantile(r[:5], 0.1) == np.inf  # ceil(6 * 0.9) = 6 > 5


def test_prediction_intervals_cover_held_out_data():
    lib = make_spectra(1200, n_domains=1, wavelengths=WL, targets=("OC", "clay"),
                       random_state=3).as_frame()
    source = DummyRegressor().fit(lib.X.iloc[:10], lib.Y.iloc[:10])
    model = LocalisedRegressor(source, members=LOCAL_ONLY, coverage=0.9).fit(
        lib.X.iloc[:200], lib.Y.iloc[:200])
    lower, upper = model.predict_interval(lib.X.iloc[200:])
    Y = lib.Y.iloc[200:].to_numpy()
    covered = ((Y >= lower) & (Y <= upper)).mean(axis=0)
    assert ((covered > 0.84) & (covered < 0.96)).all(), covered
    lo50, hi50 = model.predict_interval(lib.X.iloc[200:], coverage=0.5)
    assert ((hi50 - lo50) < (upper - lower)).all()
    with pytest.raises(ValueError, match="coverage"):
        model.predict_interval(lib.X.iloc[:2], coverage=1.5)
    # One pass for both, also as a Pipeline's last step (sklearn hands
    # predict's keyword to it) and for one property.
    pred, lo, hi = model.predict(lib.X.iloc[200:], return_interval=True)
    np.testing.assert_allclose(pred, model.predict(lib.X.iloc[200:]))
    np.testing.assert_allclose(lo, lower)
    np.testing.assert_allclose(hi, upper)
    piped = Pipeline([("id", "passthrough"), ("loc", model)])
    for a, b in zip(piped.predict(lib.X.iloc[200:], return_interval=True), (pred, lo, hi)):
        np.testing.assert_allclose(a, b)
    single = LocalisedRegressor(source, members=LOCAL_ONLY).fit(lib.X.iloc[:60],
                                                                lib.Y.iloc[:60, 0])
    p1, l1, u1 = single.predict(lib.X.iloc[200:205], return_interval=True)
    assert p1.shape == l1.shape == u1.shape == (5,)


# -- persistence and cloning ---------------------------------------------------------------

def test_pickle_round_trip(split, cnn_source):
    local, _ = split
    model = LocalisedRegressor(cnn_source, members=["source_corrected", "fine_tuned", "plsr"],
                               cv=3, fine_tune=QUICK).fit(local.X.iloc[:15], local.Y.iloc[:15])
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict(local.X.iloc[15:]), model.predict(local.X.iloc[15:]))


def test_clone_keeps_source_and_library_by_reference(split, cnn_source):
    _, glob = split
    model = LocalisedRegressor(cnn_source, library=glob, cv=3)
    copy = clone(model)
    assert copy.source is cnn_source and copy.library is glob
    assert copy.get_params()["cv"] == 3


def test_source_from_a_model_file(split, cnn_source, tmp_path):
    from sklearn_soilspec.transfer import save_model

    local, _ = split
    path = tmp_path / "global.soilspec"
    save_model(cnn_source, path)
    model = LocalisedRegressor(str(path), members=["source", "plsr"], cv=3).fit(
        local.X.iloc[:15], local.Y.iloc[:15])
    direct = LocalisedRegressor(cnn_source, members=["source", "plsr"], cv=3).fit(
        local.X.iloc[:15], local.Y.iloc[:15])
    rep, ref = model.localisation_report_, direct.localisation_report_
    assert np.allclose(rep["oof_rmse"], ref["oof_rmse"], equal_nan=True)


# -- errors -------------------------------------------------------------------------------------

def test_ranges_that_do_not_overlap_are_an_error(split, cnn_source):
    local, _ = split
    short = local.X.loc[:, [c for c in local.X.columns if float(c) >= 1500]]
    with pytest.raises(ValueError, match="do not cover the grid of the source model"):
        LocalisedRegressor(cnn_source, members=["source", "plsr"]).fit(short.iloc[:10],
                                                                       local.Y.iloc[:10])
    # Local members alone work on the local range.
    LocalisedRegressor(cnn_source, members=["plsr", "mean"], cv=3).fit(short.iloc[:10],
                                                                      local.Y.iloc[:10])


def test_member_errors(split, cnn_source):
    local, glob = split
    X, Y = local.X.iloc[:10], local.Y.iloc[:10]
    with pytest.raises(ValueError, match="Unknown members"):
        LocalisedRegressor(cnn_source, members=["plsr", "svm"]).fit(X, Y)
    with pytest.raises(ValueError, match="need a library"):
        LocalisedRegressor(cnn_source, members=["mbl"]).fit(X, Y)
    pls = _pls_source(glob.X, glob.Y)
    with pytest.raises(ValueError, match="not a SpectralCNNRegressor"):
        LocalisedRegressor(pls, members=["fine_tuned"]).fit(X, Y)
    with pytest.raises(ValueError, match="unfitted"):
        LocalisedRegressor(make_source_model(), members=["plsr"]).fit(X, Y)
    with pytest.raises(ValueError, match="leave them out"):
        LocalisedRegressor(cnn_source, members=["fine_tuned"],
                           fine_tune={"random_state": 1}).fit(X, Y)
    with pytest.raises(ValueError, match="n_features = 3"):
        LocalisedRegressor(cnn_source, members=["source"]).fit(X.to_numpy()[:, :3], Y)


# -- the source builder and the report -----------------------------------------------------------

def test_train_source_model_with_one_domain(split):
    _, glob = split
    one = glob.subset(glob.groups == "domain_0")
    model = train_source_model(one, max_epochs=2, module_params=TINY)
    assert not model[-1].domain_standardized_
    many = train_source_model(glob, max_epochs=2, module_params=TINY)
    assert many[-1].domain_standardized_
    assert model[-1].wavelengths_ is not None  # DataFrames between steps keep the grid
    pred = model.predict(one.X.iloc[:3])
    assert pred.shape == (3, 2) and np.isfinite(pred).all()


def test_report_and_plot(split):
    import matplotlib

    matplotlib.use("Agg")
    local, glob = split
    model = LocalisedRegressor(_pls_source(glob.X, glob.Y),
                               members=["source", "source_corrected", "plsr", "mean"],
                               cv=3).fit(local.X.iloc[:20], local.Y.iloc[:20])
    rep = model.localisation_report_
    assert len(rep) == 2 * 5
    assert list(rep.columns[:6]) == ["property", "candidate", "oof_rmse", "weight", "n_rows",
                                     "status"]
    localised = rep[rep["candidate"] == "localised"]
    assert localised["option"].notna().all()
    assert isinstance(model.weights_, pd.DataFrame)
    ax = plot_localisation(rep)
    assert len(ax.patches) == len(rep)


@pytest.mark.slow
def test_limesoda_site_localised_against_local_plsr():
    from sklearn_soilspec.datasets import load_limesoda_spectra

    lib = load_limesoda_spectra("visnir")
    local, glob = lib.split_domain("UL.120")
    source = train_source_model(glob, fast=True, max_epochs=40)
    full = load_limesoda_spectra("visnir", sites=["UL.120"])
    test = np.asarray(full.folds) == 1
    model = LocalisedRegressor(source, library=glob, fine_tune={"max_epochs": 30})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(full.X[~test], full.Y[~test])
    Y = full.Y[test].to_numpy()
    rmse = np.sqrt(np.nanmean((model.predict(full.X[test]) - Y) ** 2, axis=0))
    plsr = LocalisedRegressor(source, members=["plsr"]).fit(full.X[~test], full.Y[~test])
    rmse_plsr = np.sqrt(np.nanmean((plsr.predict(full.X[test]) - Y) ** 2, axis=0))
    assert (rmse <= 1.25 * rmse_plsr).all()


def test_property_measured_on_one_row_is_predicted_by_its_mean(split):
    local, glob = split
    X, Y = local.X.iloc[:12], local.Y.iloc[:12].copy()
    Y.iloc[1:, 1] = np.nan
    source = _pls_source(glob.X, glob.Y[["OC"]])
    with pytest.raises(ValueError, match="names none"):
        LocalisedRegressor(source, members=["source", "plsr"]).fit(X, Y)
    source[-1].target_names_ = ["OC"]
    with pytest.warns(UserWarning, match="local mean"):
        model = LocalisedRegressor(source, cv=3, members=["source", "plsr", "mean"]).fit(X, Y)
    assert model.weights_.loc["mean", "clay"] == 1.0
    assert np.allclose(model.predict(local.X.iloc[12:14])[:, 1], Y.iloc[0, 1])


def test_library_as_a_tuple_and_a_property_it_lacks(split):
    local, glob = split
    source = _pls_source(glob.X, glob.Y)
    model = LocalisedRegressor(source, library=(glob.X, glob.Y[["clay"]]),
                               members=["mbl", "spiked_plsr", "plsr"], cv=3).fit(
        local.X.iloc[:20], local.Y.iloc[:20])
    status = model.localisation_report_.set_index(["property", "candidate"])["status"]
    assert status["OC", "mbl"] == "not applicable"
    assert status["clay", "mbl"] != "not applicable"
    assert model.weights_.loc[["mbl", "spiked_plsr"], "OC"].sum() == 0
    assert np.isfinite(model.predict(local.X.iloc[20:])).all()


def test_library_that_contains_the_local_rows_scores_them_out_of_fold(split):
    # A regional library the farm's samples went into: without care, every
    # held-out local row finds its own copy among the library's neighbours
    # and the library candidates look near perfect out of fold.
    local, glob = split
    source = _pls_source(glob.X, glob.Y)
    X, Y = local.X.iloc[:25], local.Y.iloc[:25]
    members = ["mbl", "spiked_plsr", "plsr"]
    apart = LocalisedRegressor(source, library=(glob.X, glob.Y), members=members,
                               cv=3).fit(X, Y)
    inside = (pd.concat([glob.X, X]), pd.concat([glob.Y, Y]))
    with pytest.warns(UserWarning, match="25 library spectra are the local spectra"):
        within = LocalisedRegressor(source, library=inside, members=members, cv=3).fit(X, Y)
    assert within.n_library_overlap_ == 25 and apart.n_library_overlap_ == 0
    rep = within.localisation_report_
    cands = rep[rep.candidate != "localised"]
    cols = ["property", "candidate", "oof_rmse"]
    pd.testing.assert_frame_equal(cands[cols],
                                  apart.localisation_report_.loc[cands.index, cols])
    # No candidate is built on the source, so every one is scored honestly
    # and the usual ratio holds: within 1 + 2 / sqrt(25) = 1.4x of the best.
    for prop in within.target_names_:
        r = cands[cands.property == prop].set_index("candidate")
        near = r.oof_rmse <= 1.4 * r.oof_rmse.min()
        np.testing.assert_allclose(within.weights_[prop][near.index[near]], 1.0 / near.sum())
        assert (within.weights_[prop][near.index[~near]] == 0).all()


def test_intervals_on_rows_the_source_saw_rest_on_the_other_candidates(split):
    # A source trained on the library the farm's samples went into is scored
    # in-sample on them: an interval from its residuals would be too narrow.
    # On those rows the residuals are the rule's over the local and library
    # candidates, which did not see them.
    local, glob = split
    X, Y = local.X.iloc[:25], local.Y.iloc[:25]
    inside = (pd.concat([glob.X, X]), pd.concat([glob.Y, Y]))
    seen_source = _pls_source(X, Y)  # in-sample on the very rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        within = LocalisedRegressor(seen_source, library=inside, members=["source", "plsr", "mbl"],
                                    cv=3).fit(X, Y)
        others = LocalisedRegressor(seen_source, library=inside, members=["plsr", "mbl"],
                                    cv=3).fit(X, Y)
    assert within.source_seen_.all() and within.n_library_overlap_ == 25
    # The in-sample source leads out of fold and takes weight, but its lead
    # is no evidence: with a library candidate among the others, those within
    # the usual ratio (1 + 2 / sqrt(25) = 1.4) of the best one not built on
    # the source share the weight with it.
    rep = within.localisation_report_.set_index(["property", "candidate"])
    for prop in within.target_names_:
        honest = rep.loc[prop].loc[["plsr", "mbl"], "oof_rmse"]
        assert rep.loc[(prop, "source"), "oof_rmse"] < honest.min()
        near = ["source"] + list(honest.index[honest <= 1.4 * honest.min()])
        np.testing.assert_allclose(within.weights_.loc[near, prop], 1.0 / len(near))
    # ... but the intervals are those of the candidates that did not see the rows.
    np.testing.assert_allclose(within.interval_halfwidth_, others.interval_halfwidth_)
    in_sample = [conformal_quantile(Y.to_numpy()[:, j] - within._oof_combined[:, j], 0.1)
                 for j in range(Y.shape[1])]
    assert (within.interval_halfwidth_ > np.array(in_sample)).any()
    # A library apart from the local rows leaves the residuals as they were.
    apart = LocalisedRegressor(_pls_source(glob.X, glob.Y), library=(glob.X, glob.Y),
                               members=["source", "plsr", "mbl"], cv=3).fit(X, Y)
    assert not apart.source_seen_.any()
    expected = [conformal_quantile(Y.to_numpy()[:, j] - apart._oof_combined[:, j], 0.1)
                for j in range(Y.shape[1])]
    np.testing.assert_allclose(apart.interval_halfwidth_, expected)


def test_rows_in_matches_copies_only():
    from sklearn_soilspec.localised._recipes import rows_in

    rng = np.random.default_rng(0)
    L = rng.normal(size=(50, 30)) + 1.0
    X = np.vstack([L[[3, 17]], L[5] + 1e-3])
    assert np.flatnonzero(rows_in(L, X)).tolist() == [3, 17]
    assert not rows_in(L, X[:0]).any()
    # The same pass says which local rows were found (not the near-copy).
    found, local = rows_in(L, X, return_local=True)
    assert np.flatnonzero(found).tolist() == [3, 17] and local.tolist() == [True, True, False]
    assert rows_in(L, X[:0], return_local=True)[1].shape == (0,)


def test_equal_weighting_weighs_every_candidate_near_the_best_alike(split):
    local, glob = split
    source = _pls_source(glob.X, glob.Y)
    members = ["source", "source_corrected", "plsr", "gpr", "mean"]
    X, Y = local.X.iloc[:30], local.Y.iloc[:30]
    model = LocalisedRegressor(source, members=members, cv=3).fit(X, Y)
    assert model.weighting == "equal"
    rep = model.localisation_report_
    for prop in model.target_names_:
        r = rep[(rep.property == prop) & (rep.candidate != "localised")].set_index("candidate")
        ratio = min(1.5, 1 + 2 / np.sqrt(r.n_rows.iloc[0]))
        near = r.oof_rmse <= ratio * r.oof_rmse.min()
        w = model.weights_[prop]
        assert np.allclose(w[near.index[near]], 1.0 / near.sum())
        assert (w[near.index[~near]] == 0).all()
    # "select" is the option grid: its choice can differ, its weights still sum to one.
    chosen = LocalisedRegressor(source, members=members, cv=3, weighting="select").fit(X, Y)
    assert np.allclose(chosen.weights_.sum(), 1.0)
    options = chosen.localisation_report_.query("candidate == 'localised'").option
    assert all(o in members or o.startswith(("equal(", "weights(")) for o in options)


def test_equal_weighting_narrows_as_the_rows_grow():
    # Averages at small n (1.5x of the best is within the noise of ten rows),
    # chooses at large n (7 % behind on a thousand rows is a worse model).
    from sklearn_soilspec.localised._combine import equal_ratio
    assert equal_ratio(8) == equal_ratio(16) == 1.5
    assert equal_ratio(100) == pytest.approx(1.2)
    assert equal_ratio(10_000) == pytest.approx(1.02)
    rng = np.random.default_rng(0)
    for n, weighted in ((12, 2), (2000, 1)):
        y = rng.normal(size=n)
        good = y + 0.5 * rng.normal(size=n)
        worse = y + 0.6 * rng.normal(size=n)  # 1.2x the RMSE of the best
        model = LocalisedRegressor(source=None)
        model.target_names_ = ["p"]
        members = {k: type("M", (), {"columns": None})() for k in ("a", "b")}
        model._choose(members, np.stack([good, worse])[:, :, None], y[:, None])
        assert (model.weights_["p"] > 0).sum() == weighted


def test_unknown_weighting_is_a_clear_error(split):
    local, glob = split
    model = LocalisedRegressor(_pls_source(glob.X, glob.Y), members=LOCAL_ONLY, weighting="best")
    with pytest.raises(ValueError, match="'weighting' parameter of LocalisedRegressor must be"):
        model.fit(local.X.iloc[:20], local.Y.iloc[:20])
