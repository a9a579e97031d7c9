"""Localisation recipes: per-domain standardisation, head re-standardisation, AdaBN,
augmentation, seed ensembles, MC dropout, the multi-output blend, and their defaults."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_soilspec.baselines import PLSRegressionCV
from sklearn_soilspec.datasets import SpectralLibrary
from sklearn_soilspec.ensemble import BlendRegressor, SeedEnsembleRegressor, SelectorRegressor
from sklearn_soilspec.experiments import (
    LocalisationExperiment, ModelSpec, PerTargetRegressor, default_models,
)
from sklearn_soilspec.experiments._spec import param_ending
from sklearn_soilspec.neural import SpectralAugmenter, SpectralCNNRegressor

torch.set_num_threads(1)

TINY = dict(module_params={"channels": (4,), "shared_units": (8,), "head_units": 8},
            random_state=0)


def _domains(rng, n_per=40, p=24):
    """Three domains sharing one X -> Y relation but with their own offsets in X and Y."""
    X = rng.normal(size=(3 * n_per, p))
    Y = np.c_[X[:, :6].sum(1), X[:, 6:12].sum(1) - X[:, 0]]
    g = np.repeat(["a", "b", "c"], n_per)
    X[g == "b"] += 4.0
    Y[g == "b"] += [20.0, -5.0]
    X[g == "c"] *= 2.0
    Y[g == "c"] *= 3.0
    return X, Y, g


# -- 1. per-domain standardisation ------------------------------------------------
def test_domain_standardize_uses_each_domains_statistics(rng):
    X, Y, g = _domains(rng)
    src = SpectralCNNRegressor(standardize="per_domain", max_epochs=2, **TINY).fit(X, Y, groups=g)
    assert src.domain_standardized_ and src.standardize_ == "per_domain"
    local = g == "b"
    # The source decides: no setting on the local model is needed.
    loc = SpectralCNNRegressor(warm_start_from=src, max_epochs=0,
                               **TINY).fit(X[local], Y[local])
    # Localised with the local data's own statistics, not the pooled ones of the source.
    np.testing.assert_allclose(loc.y_mean_, Y[local].mean(0))
    np.testing.assert_allclose(loc.x_mean_, X[local].mean(0))
    assert not np.allclose(src.y_mean_, loc.y_mean_)
    # Without domains, or with one, it is ordinary pooled standardisation.
    plain = SpectralCNNRegressor(standardize="per_domain", max_epochs=0, **TINY).fit(X, Y)
    assert not plain.domain_standardized_ and plain.standardize_ == "pooled"
    one = SpectralCNNRegressor(standardize="per_domain", max_epochs=0, **TINY).fit(
        X, Y, groups=np.full(len(X), "only"))
    assert one.standardize_ == "pooled"


def test_deprecated_domain_standardize_still_works_and_warns(rng):
    X, Y, g = _domains(rng)
    with pytest.warns(FutureWarning, match="domain_standardize is deprecated"):
        src = SpectralCNNRegressor(domain_standardize=True, max_epochs=0, **TINY).fit(
            X, Y, groups=g)
    assert src.standardize_ == "per_domain"
    with pytest.warns(FutureWarning, match="training_domains=.* is deprecated"):
        SpectralCNNRegressor(max_epochs=0, **TINY).fit(X, Y, training_domains=g)
    with pytest.warns(FutureWarning, match="standardize_X is deprecated"):
        est = SpectralCNNRegressor(standardize_X=False, max_epochs=0, **TINY).fit(X, Y)
    assert est.x_mean_ is None


def test_few_measured_local_rows_cannot_blow_up_a_per_domain_transfer(rng):
    X, Y, g = _domains(rng)
    src = SpectralCNNRegressor(standardize="per_domain", max_epochs=0, **TINY).fit(X, Y, groups=g)
    local = np.flatnonzero(g == "b")[:30]
    Yl = Y[local].copy()
    Yl[3:, 1] = np.nan            # the second property measured on three rows only
    Yl[:3, 1] = [1.0, 1.0 + 1e-6, 1.0]  # and nearly constant there
    loc = SpectralCNNRegressor(warm_start_from=src, max_epochs=0, **TINY).fit(X[local], Yl)
    # Its SD is pooled with the source's instead of collapsing to ~1e-6.
    assert loc.y_scale_[1] > 0.3 * src.y_scale_[1]
    np.testing.assert_allclose(loc.y_scale_[0], Y[local, 0].std())


def test_domain_standardize_removes_domain_offsets_from_training_targets(rng):
    X, Y, g = _domains(rng)
    est = SpectralCNNRegressor(standardize="per_domain", max_epochs=0, validation_fraction=None,
                               **TINY).fit(X, Y, groups=g)
    from sklearn_soilspec.neural._scaling import standardize_per_domain

    _, Ys = standardize_per_domain(X, Y, g, est.x_mean_, est.x_scale_, est.y_mean_,
                                   est.y_scale_)
    z = (Ys - est.y_mean_) / est.y_scale_
    for d in "abc":
        np.testing.assert_allclose(z[g == d].mean(0), 0.0, atol=1e-9)
        np.testing.assert_allclose(z[g == d].std(0), 1.0, atol=1e-9)


def test_domain_standardize_beats_plain_transfer_under_site_offsets(rng):
    X, Y, g = _domains(rng, n_per=80)
    local = np.flatnonzero(g == "c")
    train, test = local[:30], local[30:]
    glob = g != "c"
    fit = dict(max_epochs=40, patience=None, validation_fraction=None, lr=3e-3)
    errs = {}
    for ds in (False, True):
        src = SpectralCNNRegressor(standardize="per_domain" if ds else "pooled", **fit,
                                   **TINY).fit(X[glob], Y[glob], groups=g[glob])
        loc = SpectralCNNRegressor(warm_start_from=src, freeze_layers="features", **fit,
                                   **TINY).fit(X[train], Y[train])
        errs[ds] = np.sqrt(np.mean((loc.predict(X[test]) - Y[test]) ** 2))
    assert errs[True] < errs[False]


def test_groups_and_training_domains_together_is_an_error(rng):
    X, Y, g = _domains(rng)
    with pytest.raises(ValueError, match="groups or as training_domains, not both"):
        SpectralCNNRegressor(max_epochs=0, **TINY).fit(X, Y, groups=g, training_domains=g)
    with pytest.raises(ValueError, match="has 3 labels for 120 samples"):
        SpectralCNNRegressor(standardize="per_domain", max_epochs=0, **TINY).fit(
            X, Y, groups=g[:3])


# -- 2. local re-standardisation of heads ----------------------------------------------
def test_restandardize_targets_keeps_predictions_at_step_zero(rng):
    X, Y, g = _domains(rng)
    src = SpectralCNNRegressor(max_epochs=2, **TINY).fit(X, Y)
    local = g == "b"
    kept = SpectralCNNRegressor(warm_start_from=src, max_epochs=0, **TINY).fit(X[local], Y[local])
    res = SpectralCNNRegressor(warm_start_from=src, max_epochs=0, restandardize_targets=True,
                               **TINY).fit(X[local], Y[local])
    np.testing.assert_allclose(res.predict(X[:10]), kept.predict(X[:10]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(kept.y_mean_, src.y_mean_)
    np.testing.assert_allclose(res.y_mean_, Y[local].mean(0))


# -- 3. AdaBN ------------------------------------------------------------------------------
def _bn(est):
    return [m for m in est.net_.module_.features.modules()
            if isinstance(m, torch.nn.BatchNorm1d)][0]


def test_adabn_recomputes_statistics_once_then_keeps_them(rng):
    X, Y, g = _domains(rng)
    src = SpectralCNNRegressor(max_epochs=2, **TINY).fit(X[g != "b"], Y[g != "b"])
    local = g == "b"
    kw = dict(warm_start_from=src, validation_fraction=None, **TINY)
    keep = SpectralCNNRegressor(max_epochs=0, **kw).fit(X[local], Y[local])
    ada0 = SpectralCNNRegressor(max_epochs=0, adapt_batchnorm="recompute", **kw).fit(
        X[local], Y[local])
    ada5 = SpectralCNNRegressor(max_epochs=5, adapt_batchnorm="recompute",
                                freeze_layers="features", **kw).fit(X[local], Y[local])
    np.testing.assert_allclose(_bn(keep).running_mean, _bn(src).running_mean)
    assert not np.allclose(_bn(ada0).running_mean, _bn(src).running_mean)
    # Fixed after the recomputation: fine-tuning does not move them.
    np.testing.assert_allclose(_bn(ada5).running_mean, _bn(ada0).running_mean, rtol=1e-5)
    with pytest.raises(ValueError, match="adapt_batchnorm"):
        SpectralCNNRegressor(adapt_batchnorm="sometimes", **TINY).fit(X, Y)


# -- 4. augmentation -----------------------------------------------------------------------
def test_augmenter_perturbs_seeded_and_only_what_is_asked():
    X = np.tile(np.sin(np.linspace(0, 6, 80)), (5, 1))
    aug = SpectralAugmenter(offset=0.2, slope=0.0, scatter=0.0, shift=0, noise=0.0)
    a, b = aug.perturb(X, random_state=1), aug.perturb(X, random_state=1)
    np.testing.assert_array_equal(a, b)
    d = a - X
    # An offset only: a constant per spectrum.
    np.testing.assert_allclose(d.std(axis=1), 0.0, atol=1e-6)
    assert np.abs(d[:, 0]).max() > 0
    none = SpectralAugmenter(offset=0, slope=0, scatter=0, shift=0, noise=0)
    np.testing.assert_allclose(none.perturb(X, random_state=0), X, atol=1e-6)
    shifted = SpectralAugmenter(offset=0, slope=0, scatter=0, shift=3, noise=0).perturb(X, 0)
    assert not np.allclose(shifted, X)


def test_augment_changes_training_only_and_is_reproducible(rng):
    X, Y, _ = _domains(rng)
    kw = dict(max_epochs=3, **TINY)
    plain = SpectralCNNRegressor(**kw).fit(X, Y)
    aug1 = SpectralCNNRegressor(augment={"offset": 0.5, "noise": 0.1}, **kw).fit(X, Y)
    aug2 = SpectralCNNRegressor(augment=SpectralAugmenter(offset=0.5, noise=0.1), **kw).fit(X, Y)
    np.testing.assert_allclose(aug1.predict(X[:5]), aug2.predict(X[:5]), rtol=1e-5)
    np.testing.assert_array_equal(aug1.predict(X[:5]), aug1.predict(X[:5]))
    assert not np.allclose(plain.predict(X[:5]), aug1.predict(X[:5]))
    assert clone(aug1).get_params()["augment"] == {"offset": 0.5, "noise": 0.1}


@pytest.mark.parametrize("augment, message", [
    ({"offset": -1.0}, "offset"),
    ({"wiggle": 1.0}, "wiggle"),
])
def test_bad_augment_is_a_clear_error(rng, augment, message):
    X, Y, _ = _domains(rng)
    with pytest.raises((ValueError, TypeError), match=message):
        SpectralCNNRegressor(augment=augment, max_epochs=1, **TINY).fit(X, Y)


def test_augment_needs_spectra_not_spectrograms(rng):
    X = rng.normal(size=(20, 6, 4))
    with pytest.raises(ValueError, match="augment perturbs 1-D spectra"):
        SpectralCNNRegressor(architecture="spectrogram2d", augment={"offset": 0.1},
                             module_params={"channels": ((2,),), "shared_units": (4,),
                                            "head_units": 4},
                             max_epochs=1).fit(X, X[:, 0, 0])


# -- 5. ensembles and MC dropout ----------------------------------------------------------
def test_seed_ensemble_averages_members_and_keeps_the_warm_start(rng):
    X, Y, g = _domains(rng)
    src = SpectralCNNRegressor(max_epochs=2, **TINY).fit(X, Y)
    local = g == "b"
    ens = SeedEnsembleRegressor(
        SpectralCNNRegressor(warm_start_from=src, max_epochs=2, **TINY), n_estimators=3
    ).fit(X[local], Y[local])
    assert len(set(ens.seeds_)) == 3
    assert all(m.warm_start_from is src for m in ens.estimators_)
    mean, std = ens.predict(X[:4], return_std=True)
    members = np.stack([m.predict(X[:4]) for m in ens.estimators_])
    np.testing.assert_allclose(mean, members.mean(0))
    assert (std > 0).all()
    assert clone(ens).estimator.warm_start_from is src


def test_mc_dropout_gives_a_spread_and_a_mean_near_predict(rng):
    X, Y, _ = _domains(rng)
    est = SpectralCNNRegressor(max_epochs=3, **TINY).fit(X, Y[:, 0])
    mean, std = est.predict_dropout(X[:8], n_samples=40, random_state=0)
    assert mean.shape == std.shape == (8,)
    assert (std > 0).all()
    mean2, _ = est.predict_dropout(X[:8], n_samples=40, random_state=0)
    np.testing.assert_array_equal(mean, mean2)
    # Dropout is switched off again afterwards.
    np.testing.assert_array_equal(est.predict(X[:3]), est.predict(X[:3]))
    with pytest.raises(ValueError, match="n_samples must be an int >= 2"):
        est.predict_dropout(X[:2], n_samples=1)


# -- 6. the multi-output blend ------------------------------------------------------------
def test_blend_fixed_weights_average_members_with_nan_targets(rng):
    X = rng.normal(size=(60, 10))
    Y = np.c_[X[:, 0] + X[:, 1], X[:, 2]]
    Y[::3, 1] = np.nan
    a, b = PLSRegressionCV(max_components=2), PLSRegressionCV(max_components=6)
    blend = BlendRegressor([("a", a), ("b", b)], weights=[3, 1]).fit(X, Y)
    expected = 0.75 * clone(a).fit(X, Y).predict(X) + 0.25 * clone(b).fit(X, Y).predict(X)
    np.testing.assert_allclose(blend.predict(X), expected)
    np.testing.assert_allclose(blend.weights_, [[0.75, 0.75], [0.25, 0.25]])


def test_blend_best_chooses_the_better_member_per_property(rng):
    X = rng.normal(size=(80, 10))
    Y = np.c_[X[:, 0] * 3, X[:, 1] * 2]
    Y[::4, 0] = np.nan
    good, bad = Ridge(alpha=1e-3), Ridge(alpha=1e5)
    from sklearn_soilspec.experiments import PerTargetRegressor

    blend = BlendRegressor([("bad", PerTargetRegressor(bad)), ("good", PerTargetRegressor(good))],
                           weights="best", cv=4).fit(X, Y)
    np.testing.assert_array_equal(blend.weights_, [[0, 0], [1, 1]])
    assert (blend.validation_rmse_[1] < blend.validation_rmse_[0]).all()
    opt = BlendRegressor([("bad", PerTargetRegressor(bad)), ("good", PerTargetRegressor(good))],
                         weights="optimal", cv=0.3).fit(X, Y)
    assert (opt.weights_[1] >= 0.8).all()
    np.testing.assert_allclose(opt.weights_.sum(0), 1.0)


class _NeedsMany(Ridge):
    """A member that cannot fit small folds (like a PLSR with its own inner CV)."""

    def fit(self, X, y, sample_weight=None):
        if len(X) < 50:
            raise ValueError("too few rows")
        return super().fit(X, y, sample_weight)


def test_blend_gives_no_weight_to_a_member_that_cannot_fit_the_folds(rng):
    X = rng.normal(size=(60, 5))
    y = X[:, 0]
    blend = BlendRegressor([("small", _NeedsMany(alpha=1e-3)), ("ok", Ridge(alpha=10.0))],
                           weights="optimal", cv=3).fit(X, y)
    np.testing.assert_array_equal(blend.weights_.ravel(), [0.0, 1.0])


def test_blend_cross_fitted_members_predict_the_mean_of_their_fold_models(rng):
    from sklearn.model_selection import KFold

    X = rng.normal(size=(60, 6))
    Y = np.c_[X[:, 0] + 0.1 * rng.normal(size=60), X[:, 1] - X[:, 2]]
    Y[::5, 1] = np.nan
    members = [("r", PerTargetRegressor(Ridge(alpha=1.0))),
               ("p", PLSRegressionCV(max_components=3, random_state=0))]
    blend = BlendRegressor(members, weights="optimal", cv=3, weight_steps=4, refit=["p"],
                           random_state=1).fit(X, Y)
    fold_models = blend.named_estimators_["r"].estimators_
    assert len(fold_models) == 3
    # The fold models are the ones the weights were validated on: same folds, same rows.
    splits = KFold(3, shuffle=True, random_state=1).split(X)
    for model, (train, _) in zip(fold_models, splits):
        expected = clone(members[0][1]).fit(X[train], Y[train])
        np.testing.assert_allclose(model.predict(X[:5]), expected.predict(X[:5]))
    refitted = clone(members[1][1]).fit(X, Y)
    np.testing.assert_allclose(blend.named_estimators_["p"].predict(X), refitted.predict(X))
    r_mean = np.mean([m.predict(X) for m in fold_models], axis=0)
    expected = blend.weights_[0] * r_mean + blend.weights_[1] * refitted.predict(X)
    np.testing.assert_allclose(blend.predict(X), expected)
    # refit=True (the default) differs: the member is refitted on all rows.
    full = BlendRegressor(members, weights="optimal", cv=3, weight_steps=4,
                          random_state=1).fit(X, Y)
    np.testing.assert_array_equal(full.weights_, blend.weights_)
    assert isinstance(full.named_estimators_["r"], PerTargetRegressor)
    assert not isinstance(blend.named_estimators_["r"], PerTargetRegressor)


def test_blend_cross_fitting_survives_pickle_and_clone(rng):
    X = rng.normal(size=(40, 5))
    blend = BlendRegressor([("a", Ridge()), ("b", Ridge(alpha=50.0))], weights="best", cv=4,
                           refit=False).fit(X, X[:, 0])
    again = pickle.loads(pickle.dumps(blend))
    np.testing.assert_array_equal(again.predict(X), blend.predict(X))
    assert clone(blend).get_params()["refit"] is False


def test_blend_member_without_fold_models_is_refitted(rng):
    X = rng.normal(size=(60, 5))
    y = X[:, 0]
    blend = BlendRegressor([("small", _NeedsMany(alpha=1e-3)), ("ok", Ridge(alpha=10.0))],
                           weights="optimal", cv=3, refit=False).fit(X, y)
    assert isinstance(blend.named_estimators_["small"], _NeedsMany)
    assert len(blend.named_estimators_["ok"].estimators_) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"refit": False}, "refit other than True needs weights='best' or 'optimal'"),
    ({"refit": ["c"], "weights": "best"}, "refit names unknown member\\(s\\) \\['c'\\]"),
])
def test_blend_bad_refit_is_a_clear_error(rng, kwargs, message):
    X = rng.normal(size=(20, 4))
    with pytest.raises(ValueError, match=message):
        BlendRegressor([("a", Ridge()), ("b", Ridge())], **kwargs).fit(X, X[:, 0])


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": [1.0]}, "one per member \\(2\\)"),
    ({"weights": [-1.0, 2.0]}, "non-negative"),
])
def test_blend_bad_weights_are_clear_errors(rng, kwargs, message):
    X = rng.normal(size=(20, 4))
    with pytest.raises(ValueError, match=message):
        BlendRegressor([("a", Ridge()), ("b", Ridge())], **kwargs).fit(X, X[:, 0])


def test_blend_member_names_must_be_unique(rng):
    X = rng.normal(size=(20, 4))
    with pytest.raises(ValueError, match="unique"):
        BlendRegressor([("a", Ridge()), ("a", Ridge())]).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="empty"):
        BlendRegressor([]).fit(X, X[:, 0])


def test_blend_of_transfer_cnn_and_local_pls_runs_as_one_transfer_spec(rng):
    X, Y, g = _domains(rng, n_per=30)
    lib = SpectralLibrary(X=X, Y=Y, groups=g, wavelengths=np.arange(400.0, 400.0 + X.shape[1]),
                          target_names=["OC", "clay"])
    cnn = SpectralCNNRegressor(standardize="per_domain", max_epochs=2, **TINY)
    blend = BlendRegressor([("cnn", clone(cnn).set_params(freeze_layers="features")),
                            ("pls", PLSRegressionCV(max_components=3))])
    models = {"g": ModelSpec(cnn, "global"),
              "blend": ModelSpec(blend, "transfer", source="g")}
    assert param_ending(blend, "warm_start_from") == "cnn__warm_start_from"
    res = LocalisationExperiment(models=models, target_domains=["a"], n_repeats=1,
                                 test_size=0.3, verbose=0).run(lib)
    assert np.isfinite(res.scores_pooled["rmse"]).all()
    assert set(res.comparison["transfer_model"]) == {"blend"}


@parametrize_with_checks([
    BlendRegressor([("r", Ridge()), ("p", PLSRegressionCV(max_components=2, random_state=0))]),
    BlendRegressor([("r", Ridge()), ("r2", Ridge(alpha=10.0))], weights="optimal", cv=3),
    BlendRegressor([("r", Ridge()), ("r2", Ridge(alpha=10.0))], weights="optimal", cv=3,
                   refit=["r"]),
    SeedEnsembleRegressor(Ridge(), n_estimators=2),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -- 7. the defaults ---------------------------------------------------------------------------
def test_default_models_offer_the_recipes_by_name():
    models = default_models(fast=True, recipes=True, n_ensemble=3)
    assert models["cnn_transfer_domain"].source == "cnn_global_domain"
    assert models["cnn_global_domain"].estimator.get_params()["cnn__standardize"] == "per_domain"
    assert models["cnn_transfer_ensemble"].estimator.n_estimators == 3
    blend = models["blend_transfer_plsr"].estimator
    assert [n for n, _ in blend.estimators] == ["cnn", "pls"]
    assert all(spec.native_missing() for spec in models.values())
    for spec in models.values():
        spec.check("x", models)
    assert list(default_models(names=["blend_transfer_plsr"])) == [
        "cnn_global_domain", "blend_transfer_plsr"]
    with pytest.raises(ValueError, match="recipes"):
        default_models(names=["nope"])
    assert isinstance(models["plsr_tuned"].estimator, SelectorRegressor)
    guard = models["blend_crossfit_plsr_cv"]
    assert guard.source == "cnn_global_domain"
    assert guard.estimator.get_params()["refit"] == ["pls"]
    assert param_ending(guard.estimator, "warm_start_from") == "cnn__cnn__warm_start_from"
    guard = models["blend_crossfit_gpr_plsr_cv"].estimator
    assert [n for n, _ in guard.estimators] == ["cnn", "gpr", "pls"]
    assert guard.get_params()["refit"] == ["gpr", "pls"]
    assert guard.get_params()["weights"] == "optimal"
    thirds = models["blend_ensemble_gpr_plsr"].estimator
    assert thirds.get_params()["weights"] is None
    assert thirds.get_params()["cnn__n_estimators"] == 3
    assert models["gpr_local"].training == "local"
    d2 = models["gpr_local_d2"].estimator
    assert d2.named_steps["sg"].get_params()["deriv"] == 2
    assert models["gpr_local"].estimator.named_steps["sg"].get_params()["deriv"] == 1
    quarters = models["blend_ensemble_gpr_d1d2_plsr"]
    assert quarters.source == "cnn_global_domain"
    assert [n for n, _ in quarters.estimator.estimators] == ["cnn", "gpr", "gpr_d2", "pls"]
    assert quarters.estimator.get_params()["weights"] is None
    assert quarters.estimator.get_params()["gpr_d2__sg__deriv"] == 2


def test_model_file_keeps_domain_standardisation_and_augmentation(rng, tmp_path):
    from sklearn_soilspec.transfer import load_model, save_model

    X, Y, g = _domains(rng)
    src = SpectralCNNRegressor(standardize="per_domain", augment=SpectralAugmenter(offset=0.3),
                               max_epochs=1, **TINY).fit(X, Y, groups=g)
    loaded = load_model(save_model(src, tmp_path / "m.soilspec"))
    assert loaded.domain_standardized_ and loaded.standardize == "per_domain"
    assert loaded.get_params()["augment"]["offset"] == 0.3
    local = g == "b"
    loc = SpectralCNNRegressor(warm_start_from=tmp_path / "m.soilspec",
                               max_epochs=0, **TINY).fit(X[local], Y[local])
    np.testing.assert_allclose(loc.y_mean_, Y[local].mean(0))


def test_gp_blend_recipes_run_in_the_experiment_with_missing_targets(rng):
    X, Y, g = _domains(rng, n_per=30, p=64)
    Y[::5, 1] = np.nan  # clay measured on 4 of 5 samples
    lib = SpectralLibrary(X=X, Y=Y, groups=g, wavelengths=np.arange(400.0, 400.0 + X.shape[1]),
                          target_names=["OC", "clay"])
    names = ["gpr_local", "gpr_local_d2", "blend_ensemble_gpr_plsr",
             "blend_crossfit_gpr_plsr_cv", "blend_ensemble_gpr_d1d2_plsr"]
    models = default_models(fast=True, names=names, max_epochs=2, n_ensemble=2)
    assert models["blend_crossfit_gpr_plsr_cv"].source == "cnn_global_domain" in models
    res = LocalisationExperiment(models=models, target_domains=["a"], n_repeats=1,
                                 test_size=0.3, verbose=0).run(lib)
    scores = res.scores_pooled.set_index("model")
    assert set(names) <= set(scores.index)
    assert np.isfinite(scores["rmse"]).all()
    # The blends are warm-started from the per-site standardised global CNN.
    assert set(res.comparison["transfer_model"]) == {
        "blend_ensemble_gpr_plsr", "blend_crossfit_gpr_plsr_cv", "blend_ensemble_gpr_d1d2_plsr"}
    # Every test sample gets a prediction, clay too where it was not measured.
    quarters = res.predictions[res.predictions["model"] == "blend_ensemble_gpr_d1d2_plsr"]
    assert len(quarters) and quarters["predicted"].notna().all()
