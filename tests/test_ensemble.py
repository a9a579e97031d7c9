"""The ensemble family: cross_fit, the blend, the per-property selector, seeds, cross-fitting."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.metadata_routing import get_routing_for_object

from sklearn_soilspec._targets import allows_missing_targets
from sklearn_soilspec.baselines import PLSRegressionCV
from sklearn_soilspec.ensemble import (
    BlendRegressor,
    CrossFittedRegressor,
    SeedEnsembleRegressor,
    SelectorRegressor,
    cross_fit,
)

PLS = PLSRegressionCV(max_components=3, random_state=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _data(rng, n=60, p=6, nan_every=4):
    X = rng.normal(size=(n, p))
    Y = np.c_[X[:, 0] + 0.1 * rng.normal(size=n), X[:, 1] - X[:, 2] + 0.1 * rng.normal(size=n)]
    if nan_every:
        Y[::nan_every, 1] = np.nan
    return X, Y


class _Broken(Ridge):
    """A member whose every fit fails."""

    def fit(self, X, y, sample_weight=None):
        raise ValueError("broken on purpose")


class _FailsOnFold(Ridge):
    """Fails when the row marked by its first feature is a training row: of k folds,
    only the one holding that row out fits."""

    def __init__(self, alpha=1.0, marker=np.inf):
        super().__init__(alpha=alpha)
        self.marker = marker

    def fit(self, X, y, sample_weight=None):
        if np.isclose(np.asarray(X)[:, 0], self.marker).any():
            raise ValueError("the marked row is a training row")
        return super().fit(X, y, sample_weight)


class _GroupsRecorder(RegressorMixin, BaseEstimator):
    """Predicts the mean and remembers the groups its fit received."""

    def fit(self, X, y, groups=None):
        self.groups_ = None if groups is None else np.asarray(groups).copy()
        self.mean_ = np.nanmean(np.asarray(y, dtype=float), axis=0)
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return np.tile(self.mean_, (len(X), 1)).reshape(len(X), *np.shape(self.mean_))


# -- scikit-learn's common checks ---------------------------------------------------------
@parametrize_with_checks([
    BlendRegressor([("pls", PLS), ("r", Ridge())]),
    BlendRegressor([("r", Ridge()), ("pls", PLS)], weights="optimal", cv=3, refit=["pls"]),
    SelectorRegressor([("r", Ridge()), ("lin", LinearRegression())], cv=3),
    SelectorRegressor([("pls", PLS), ("r", Ridge(alpha=10.0))], cv=3, refit=False),
    SeedEnsembleRegressor(PLS, n_estimators=2),
    CrossFittedRegressor(Ridge(), cv=3),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -- NaN targets and the tag ------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda m: BlendRegressor(m, weights="optimal", cv=3, weight_steps=4),
    lambda m: SelectorRegressor(m, cv=3),
    lambda m: SeedEnsembleRegressor(m[0][1], n_estimators=2),
    lambda m: CrossFittedRegressor(m[0][1], cv=3),
])
def test_nan_targets_go_whole_to_members_that_take_them(rng, make):
    X, Y = _data(rng)
    members = [("pls2", PLSRegressionCV(max_components=2, random_state=0)),
               ("pls4", PLSRegressionCV(max_components=4, random_state=0))]
    est = make(members)
    assert allows_missing_targets(est)
    pred = est.fit(X, Y).predict(X)
    assert pred.shape == Y.shape and np.isfinite(pred).all()
    assert est.score(X, Y) > 0.8
    # A member that refuses NaN makes the whole ensemble refuse them.
    assert not allows_missing_targets(make([("r", Ridge()), ("pls", PLS)]))


def test_an_all_nan_property_is_a_clear_error(rng):
    X, Y = _data(rng)
    Y[:, 1] = np.nan
    with pytest.raises(ValueError, match="hold no measured value"):
        SelectorRegressor([("a", PLS), ("b", PLS)], cv=3).fit(X, Y)


# -- cross_fit ---------------------------------------------------------------------------
def test_cross_fit_int_cv_is_seeded_shuffled_kfold(rng):
    X, Y = _data(rng, nan_every=0)
    res = cross_fit([("r", Ridge())], X, Y, cv=3, random_state=7)
    expected = np.empty_like(Y)
    for (train, test), (tr, te) in zip(res.splits, KFold(3, shuffle=True, random_state=7).split(X)):
        np.testing.assert_array_equal(train, tr)
        expected[te] = Ridge().fit(X[tr], Y[tr]).predict(X[te])
    np.testing.assert_allclose(res.predictions_[0], expected)
    assert len(res.fold_models["r"]) == 3 and res.failures == {"r": []}


def test_cross_fit_float_cv_holds_out_one_share(rng):
    X, Y = _data(rng, nan_every=0)
    res = cross_fit([("r", Ridge())], X, Y, cv=0.25, random_state=0)
    assert len(res.splits) == 1 and res.validated.sum() == 15
    assert np.isnan(res.predictions_[0][~res.validated]).all()
    rmse = res.rmse(Y)
    assert rmse.shape == (1, 2) and np.isfinite(rmse).all()


def test_cross_fit_group_splitter_uses_groups_and_dataframes_keep_their_columns(rng):
    X, Y = _data(rng, nan_every=0)
    groups = np.repeat(["a", "b", "c"], 20)
    frame = pd.DataFrame(X, columns=[f"{w}nm" for w in range(400, 400 + X.shape[1])])
    res = cross_fit([("r", Ridge())], frame, Y, GroupKFold(3), groups=groups)
    for train, test in res.splits:
        assert len(set(groups[test])) == 1 and set(groups[test]).isdisjoint(groups[train])
    for model in res.fold_models["r"]:
        assert list(model.feature_names_in_) == list(frame.columns)


def test_cross_fit_indexes_per_sample_fit_params_to_the_fold(rng):
    X, Y = _data(rng, nan_every=0)
    w = rng.uniform(0.1, 2.0, size=len(X))
    res = cross_fit([("r", Ridge())], X, Y, cv=3, random_state=0,
                    fit_params={"r": {"sample_weight": w}})
    for model, (train, _) in zip(res.fold_models["r"], res.splits):
        np.testing.assert_allclose(model.coef_,
                                   Ridge().fit(X[train], Y[train], sample_weight=w[train]).coef_)
    with pytest.raises(ValueError, match=r"unknown member\(s\) \['x'\]"):
        cross_fit([("r", Ridge())], X, Y, cv=3, fit_params={"x": {}})


def test_cross_fit_warns_once_per_failing_member_and_leaves_nan(rng):
    X, Y = _data(rng, nan_every=0)
    members = [("ok", Ridge()), ("broken", _Broken()), ("flaky", _FailsOnFold(marker=X[0, 0]))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = cross_fit(members, X, Y, cv=3, random_state=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, FitFailedWarning)]
    assert len(messages) == 2
    assert "3 of 3 fold fit(s) of member 'broken' failed" in messages[0]
    assert "ValueError: broken on purpose" in messages[0]
    assert "2 of 3 fold fit(s) of member 'flaky'" in messages[1]
    assert res.failed_members() == ["broken"]
    assert [k for k, _ in res.failures["flaky"]] != [] and len(res.fold_models["flaky"]) == 1
    assert np.isnan(res.predictions_[1]).all()
    # The flaky member predicted only the fold that held row 0 out.
    held = next(test for train, test in res.splits if 0 in test)
    assert np.isfinite(res.predictions_[2][held]).all()
    assert np.isnan(np.delete(res.predictions_[2], held, axis=0)).all()
    assert np.isfinite(res.predictions_[0]).all()


@pytest.mark.parametrize("cv, message", [
    (1, "give at least 2"),
    (1.5, "cv=1.5"),
    (100, "need at least 100 samples"),
])
def test_cross_fit_bad_cv_is_a_clear_error(rng, cv, message):
    X, Y = _data(rng)
    with pytest.raises(ValueError, match=message):
        cross_fit([("r", PLS)], X, Y, cv=cv)


# -- the blend ---------------------------------------------------------------------------
def test_blend_failing_member_warns_and_gets_no_weight(rng):
    X, Y = _data(rng)
    members = [("broken", _Broken()), ("pls", PLS)]
    with pytest.warns(FitFailedWarning) as caught:
        blend = BlendRegressor(members, weights="optimal", cv=3).fit(X, Y)
    messages = [str(w.message) for w in caught]
    assert "3 of 3 fold fit(s) of member 'broken' failed" in messages[0]
    assert "'broken', which has no weight, failed to fit on all rows" in messages[1]
    np.testing.assert_array_equal(blend.weights_, [[0, 0], [1, 1]])
    assert np.isnan(blend.validation_rmse_[0]).all()
    assert np.isfinite(blend.validation_rmse_[1]).all()
    # Without weight it is not needed: its failed refit leaves it out.
    assert blend.named_estimators_["broken"] is None
    np.testing.assert_allclose(blend.predict(X), clone(PLS).fit(X, Y).predict(X))


def test_blend_where_every_member_fails_names_them(rng):
    X, Y = _data(rng)
    members = [("a", _Broken()), ("b", _Broken(alpha=2.0))]
    for est in (BlendRegressor(members, weights="optimal", cv=3),
                SelectorRegressor(members, cv=3), CrossFittedRegressor(_Broken(), cv=3)):
        with pytest.warns(FitFailedWarning), pytest.raises(
                ValueError, match=r"every member failed every fold fit \(\[.*\]\); the first "
                                  r"error: ValueError: broken on purpose"):
            est.fit(X, Y)


def test_blend_gives_a_far_worse_member_no_weight(rng):
    X, Y = _data(rng)
    blend = BlendRegressor([("mean", PerTarget(DummyRegressor())), ("pls", PLS)],
                           weights="optimal", cv=4).fit(X, Y)
    assert (blend.validation_rmse_[0] > 3 * blend.validation_rmse_[1]).all()
    np.testing.assert_array_equal(blend.weights_[0], [0.0, 0.0])


def test_blend_float_cv_reports_the_held_out_rmse_and_1d_y_stays_1d(rng):
    X, Y = _data(rng, nan_every=0)
    blend = BlendRegressor([("r", Ridge()), ("pls", PLS)], weights="optimal", cv=0.3)
    blend.fit(X, Y[:, 0])
    assert np.isfinite(blend.validation_rmse_).all() and blend.validation_rmse_.shape == (2, 1)
    assert blend.predict(X[:3]).shape == (3,)


def test_blend_cross_fitted_member_predicts_its_fold_model_mean(rng):
    X, Y = _data(rng)
    pls2 = PLSRegressionCV(max_components=2, random_state=0)
    blend = BlendRegressor([("pls", PLS), ("pls2", pls2)],
                           weights="optimal", cv=3, weight_steps=4, refit=["pls2"],
                           random_state=3).fit(X, Y)
    crossed = blend.named_estimators_["pls"]
    assert isinstance(crossed, CrossFittedRegressor)
    assert " ".join(repr(crossed).split()).startswith(
        "CrossFittedRegressor(cv=3, estimator=PLSRegressionCV(")
    splits = KFold(3, shuffle=True, random_state=3).split(X)
    for model, (train, _) in zip(crossed.estimators_, splits):
        expected = clone(PLS).fit(X[train], Y[train])
        np.testing.assert_allclose(model.predict(X[:5]), expected.predict(X[:5]))
    fold_mean = np.mean([m.predict(X) for m in crossed.estimators_], axis=0)
    np.testing.assert_allclose(crossed.predict(X), fold_mean)
    refitted = blend.named_estimators_["pls2"].predict(X)
    np.testing.assert_allclose(blend.predict(X),
                               blend.weights_[0] * fold_mean + blend.weights_[1] * refitted)


def test_blend_weights_best_is_deprecated_for_the_selector(rng):
    X, Y = _data(rng)
    with pytest.warns(FutureWarning, match="use sklearn_soilspec.ensemble.SelectorRegressor"):
        blend = BlendRegressor([("pls2", PLSRegressionCV(max_components=1)), ("pls", PLS)],
                               weights="best", cv=3).fit(X, Y)
    assert set(np.unique(blend.weights_)) <= {0.0, 1.0}
    np.testing.assert_array_equal(blend.weights_.sum(0), [1.0, 1.0])


def test_old_blend_import_path_warns_and_gives_the_same_class():
    import sklearn_soilspec.blend as old

    with pytest.warns(FutureWarning, match="moved to sklearn_soilspec.ensemble"):
        from sklearn_soilspec.blend import BlendRegressor as Old
    assert Old is BlendRegressor
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        old.Nope  # noqa: B018


# -- the selector ------------------------------------------------------------------------
def PerTarget(est):
    from sklearn_soilspec.experiments import PerTargetRegressor

    return PerTargetRegressor(est)


def _columns(cols):
    """Linear regression on some columns of X only."""
    return make_pipeline(ColumnTransformer([("keep", "passthrough", cols)]), LinearRegression())


def _two_worlds(rng, n=80):
    X = rng.normal(size=(n, 6))
    Y = pd.DataFrame({"OC": X[:, :3] @ [1.0, 2.0, -1.0], "clay": X[:, 3:] @ [2.0, 1.0, 1.0]})
    Y += 0.05 * rng.normal(size=Y.shape)
    return X, Y


def test_selector_picks_the_better_member_per_property(rng):
    X, Y = _two_worlds(rng)
    members = [("a", _columns([0, 1, 2])), ("b", _columns([3, 4, 5]))]
    sel = SelectorRegressor(members, cv=4).fit(X, Y)
    assert sel.selected_ == {"OC": "a", "clay": "b"}
    assert sel.validation_rmse_[0, 0] < sel.validation_rmse_[1, 0]
    assert sel.validation_rmse_[1, 1] < sel.validation_rmse_[0, 1]
    report = sel.selection_report_["OC"]
    assert report["selected"] == "a" and report["n_validated"] == len(X)
    assert report["rmse"]["a"] < report["rmse"]["b"]
    pred = sel.predict(X)
    np.testing.assert_allclose(pred[:, 0], clone(members[0][1]).fit(X, Y).predict(X)[:, 0])
    np.testing.assert_allclose(pred[:, 1], clone(members[1][1]).fit(X, Y).predict(X)[:, 1])
    assert sel.score(X, Y) > 0.99


def test_selector_ties_go_to_the_earlier_member_and_unselected_are_not_refitted(rng):
    X, Y = _data(rng)
    members = [("first", PLS), ("same", clone(PLS)), ("mean", PerTarget(DummyRegressor()))]
    sel = SelectorRegressor(members, cv=3).fit(X, Y)
    assert set(sel.selected_.values()) == {"first"}
    assert sel.named_estimators_["same"] is None and sel.named_estimators_["mean"] is None


def test_selector_with_too_few_validated_rows_takes_the_first_member(rng):
    X, Y = _data(rng, nan_every=0)
    test = np.arange(10)
    Y[1:10, 1] = np.nan            # one measured held-out row for the second property
    cv = [(np.arange(10, len(X)), test)]
    with pytest.warns(UserWarning, match="'target_1' has 1 out-of-fold row"):
        sel = SelectorRegressor([("mean", PerTarget(DummyRegressor())), ("pls", PLS)], cv=cv)
        sel.fit(X, Y)
    assert sel.selected_ == {"target_0": "pls", "target_1": "mean"}
    assert sel.selection_report_["target_1"]["n_validated"] == 1
    assert np.isfinite(sel.predict(X)).all()


def test_selector_cross_fitted_winner_and_failing_member(rng):
    X, Y = _data(rng)
    with pytest.warns(FitFailedWarning, match="member 'broken'"):
        sel = SelectorRegressor([("broken", _Broken()), ("pls", PLS)], cv=3, refit=False).fit(X, Y)
    assert set(sel.selected_.values()) == {"pls"}
    assert np.isnan(sel.selection_report_["target_0"]["rmse"]["broken"])
    crossed = sel.named_estimators_["pls"]
    assert isinstance(crossed, CrossFittedRegressor) and len(crossed.estimators_) == 3
    np.testing.assert_allclose(sel.predict(X),
                               np.mean([m.predict(X) for m in crossed.estimators_], axis=0))
    assert sel.predict(X[:, :]).shape == Y.shape


def test_cross_fitted_regressor_keeps_its_out_of_fold_predictions(rng):
    X, Y = _data(rng, nan_every=0)
    est = CrossFittedRegressor(Ridge(), cv=3, random_state=0).fit(X, Y[:, 0])
    res = cross_fit([("r", Ridge())], X, Y[:, 0], cv=3, random_state=0)
    np.testing.assert_allclose(est.oof_predictions_, res.predictions_[0, :, 0])
    assert est.oof_predictions_.shape == (len(X),) and est.validation_rmse_.shape == (1,)


# -- metadata routing --------------------------------------------------------------------
def test_groups_reach_the_members_that_request_them_with_routing(rng):
    X, Y = _data(rng, nan_every=0)
    groups = np.repeat(["a", "b", "c"], 20)
    with sklearn.config_context(enable_metadata_routing=True):
        rec = _GroupsRecorder().set_fit_request(groups=True)
        blend = BlendRegressor([("rec", rec), ("r", Ridge())], weights="optimal",
                               cv=GroupKFold(3), refit=["r"])
        assert get_routing_for_object(blend).consumes("fit", ["groups"]) == {"groups"}
        with warnings.catch_warnings():
            # Ridge does not take groups: a leak would fail its fits.
            warnings.simplefilter("error", FitFailedWarning)
            blend.fit(X, Y, groups=groups)
        for model in blend.named_estimators_["rec"].estimators_:
            # Each fold model saw two whole sites: GroupKFold used the groups too.
            assert len(model.groups_) == 40 and len(set(model.groups_)) == 2
        seed = SeedEnsembleRegressor(rec, n_estimators=2).fit(X, Y, groups=groups)
        assert all((m.groups_ == groups).all() for m in seed.estimators_)
        sel = SelectorRegressor([("r", Ridge()), ("rec", rec)], cv=3).fit(X, Y, groups=groups)
        assert sel.selected_ == {"target_0": "r", "target_1": "r"}
        unrequested = SeedEnsembleRegressor(Ridge(), n_estimators=1)
        with pytest.raises(TypeError, match="groups"):
            unrequested.fit(X, Y, groups=groups)


def test_without_routing_every_member_gets_the_fit_params(rng):
    X, Y = _data(rng, nan_every=0)
    groups = np.repeat(["a", "b", "c"], 20)
    seed = SeedEnsembleRegressor(_GroupsRecorder(), n_estimators=2).fit(X, Y, groups=groups)
    assert all((m.groups_ == groups).all() for m in seed.estimators_)
    blend = BlendRegressor([("rec", _GroupsRecorder())], weights="optimal", cv=GroupKFold(3),
                           refit=False).fit(X, Y, groups=groups)
    assert all(len(set(m.groups_)) == 2 for m in blend.named_estimators_["rec"].estimators_)


# -- persistence -------------------------------------------------------------------------
def test_pickle_round_trip(rng):
    X, Y = _data(rng)
    models = [
        BlendRegressor([("pls", PLS), ("pls1", PLSRegressionCV(max_components=1))],
                       weights="optimal", cv=3, refit=["pls1"]),
        SelectorRegressor([("pls", PLS), ("pls1", PLSRegressionCV(max_components=1))], cv=3,
                          refit=False),
        SeedEnsembleRegressor(PLS, n_estimators=2),
        CrossFittedRegressor(PLS, cv=3),
    ]
    for est in models:
        est.fit(X, Y)
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(again.predict(X), est.predict(X))
        assert clone(est).get_params().keys() == est.get_params().keys()


def test_selector_guards_against_negative_transfer_per_property(rng):
    """Local vs transfer vs the source as it is: the transfer guard as a selector."""
    torch = pytest.importorskip("torch")
    from sklearn_soilspec.neural import SpectralCNNRegressor

    torch.set_num_threads(1)
    tiny = dict(module_params={"channels": (4,), "shared_units": (8,), "head_units": 8},
                random_state=0)
    X = rng.normal(size=(60, 16))
    Y = pd.DataFrame({"OC": X[:, :4].sum(1), "clay": X[:, 4:8].sum(1)})
    source = SpectralCNNRegressor(max_epochs=2, **tiny).fit(X, Y)
    Y.loc[::3, "clay"] = np.nan
    transfer = SpectralCNNRegressor(warm_start_from=source, max_epochs=2, **tiny)
    sel = SelectorRegressor([("local", PLS), ("transfer", transfer),
                             ("source", clone(transfer).set_params(max_epochs=0))],
                            cv=0.3).fit(X, Y)
    assert set(sel.selected_) == {"OC", "clay"}
    assert sel.validation_rmse_.shape == (3, 2) and np.isfinite(sel.validation_rmse_).all()
    for prop, report in sel.selection_report_.items():
        best = min(report["rmse"], key=report["rmse"].get)
        assert report["selected"] == sel.selected_[prop] == best
    assert np.isfinite(sel.predict(X)).all()
