"""The localisation experiment: protocol, tables, summary, report."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.metadata_routing import get_routing_for_object

from sklearn_soilspec.baselines import (
    MemoryBasedRegressor,
    PLSRegressionCV,
    SpikedRegressor,
)
from sklearn_soilspec.datasets import SpectralLibrary, load_limesoda_spectra, make_spectra
from sklearn_soilspec.ensemble import BlendRegressor, SeedEnsembleRegressor
from sklearn_soilspec.experiments import (
    ExperimentResult,
    LocalisationExperiment,
    ModelSpec,
    PerTargetRegressor,
    default_models,
)
from sklearn_soilspec.neural import SpectralCNNRegressor
from sklearn_soilspec.preprocessing import SNV

torch.set_num_threads(1)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY_CNN = dict(module_params={"channels": (4,), "shared_units": (8,), "head_units": 8},
                max_epochs=3, patience=None, batch_size=16, random_state=0)


@pytest.fixture(scope="module")
def limesoda():
    # Two real LimeSoDa vis-NIR sites (44 and 58 samples) as two domains.
    return load_limesoda_spectra(sites=["MG.44", "SSP.58"])


def _cnn(**extra):
    return make_pipeline(SNV(), SpectralCNNRegressor(**TINY_CNN, **extra))


def _small_models():
    return {
        "pls_local": PLSRegression(n_components=4),
        "pls_global": ModelSpec(PLSRegression(n_components=4), training="global"),
        "cnn_local": ModelSpec(_cnn(), training="local"),
        "cnn_global": ModelSpec(_cnn(), training="global"),
        "cnn_transfer": ModelSpec(_cnn(freeze_layers="features"), training="transfer",
                                  source="cnn_global"),
    }


@pytest.fixture(scope="module")
def result(limesoda):
    exp = LocalisationExperiment(models=_small_models(), n_repeats=1, test_size=0.25,
                                 random_state=0, verbose=0)
    return exp.run(limesoda)


def test_full_table_has_every_cell_and_metric(result, limesoda):
    pooled = result.scores_pooled
    assert isinstance(result, ExperimentResult)
    assert len(pooled) == 2 * 3 * 5  # domains x properties x models
    for col in ["rmse", "r2", "bias", "rpiq", "ccc", "n", "rank", "training"]:
        assert col in pooled
    assert set(pooled["domain"]) == {"MG.44", "SSP.58"}
    assert set(pooled["target"]) == {"OC", "pH", "clay"}
    assert np.isfinite(pooled["rmse"]).all() and (pooled["rmse"] > 0).all()
    # 25 % of 44 and of 58 samples, every model on the same test rows
    n = pooled.groupby("domain")["n"].unique()
    assert n["MG.44"].tolist() == [11] and n["SSP.58"].tolist() == [15]
    assert (pooled.groupby(["domain", "target"])["rank"].min() == 1).all()
    assert len(result.scores) == len(pooled)  # one repeat


def test_comparison_and_summary(result):
    comp = result.comparison
    assert len(comp) == 2 * 3  # one transfer model
    assert comp["p_value"].between(0, 1).all()
    row = comp.iloc[0]
    pooled = result.scores_pooled
    others = pooled[(pooled["domain"] == row["domain"]) & (pooled["target"] == row["target"])
                    & (pooled["model"] != "cnn_transfer")].set_index("model")["rmse"]
    assert row["best_other_model"] == others.idxmin()
    assert row["rmse_change_pct"] == pytest.approx(100 * (row["transfer_rmse"] / others.min() - 1))
    assert row["transfer_better"] == (row["rmse_change_pct"] < 0)
    text = result.summary()
    k = int(comp["transfer_better"].sum())
    assert f"cnn_transfer better than the best non-transfer model in {k} of 6" in text
    assert "mean RMSE change per property: OC" in text


def test_one_cell_matches_a_direct_computation(result, limesoda):
    # Refit the local PLS of MG.44 on the rows the experiment trained it on:
    # a plain sklearn model is fitted per property (PLS1 on clay).
    preds = result.predictions
    cell = preds[(preds["domain"] == "MG.44") & (preds["model"] == "pls_local")
                 & (preds["target"] == "clay")]
    local = limesoda.subset(limesoda.groups == "MG.44").as_frame()
    test = np.isin(local.sample_ids, cell["sample_id"])
    model = PLSRegression(n_components=4).fit(local.X[~test], local.Y["clay"][~test])
    pred = model.predict(local.X[test]).ravel()
    obs = local.Y["clay"].to_numpy()[test]
    expected = np.sqrt(np.mean((pred - obs) ** 2))
    score = result.scores.query("domain == 'MG.44' and model == 'pls_local' and target == 'clay'")
    assert score["rmse"].item() == pytest.approx(expected, rel=1e-6)
    assert score["n"].item() == test.sum()


def test_learning_curves_and_transfer_reports(result):
    curves = result.learning_curves
    assert {"cnn_local", "cnn_global", "cnn_transfer"} == set(curves["model"])
    assert curves["valid_loss"].notna().all()
    # Global models are fitted once per domain: no repeat.
    assert curves.loc[curves["model"] == "cnn_global", "repeat"].isna().all()
    assert len(curves.query("model == 'cnn_local' and domain == 'MG.44'")) == 3  # epochs
    reports = result.transfer_reports
    assert set(reports["model"]) == {"cnn_transfer"} and len(reports) == 2
    assert "loss_before" in reports and "loss_after" in reports


def test_report_plots_and_csv(result, tmp_path):
    path = result.write_report(tmp_path)
    assert path.name == "report.md"
    text = path.read_text()
    for png in ("rmse_bars.png", "observed_predicted.png", "learning_curves.png"):
        data = (tmp_path / png).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
        assert f"({png})" in text
    assert "cnn_transfer better than" in text
    for table in ("scores", "scores_pooled", "comparison", "predictions", "learning_curves",
                  "transfer_reports"):
        back = pd.read_csv(tmp_path / f"{table}.csv")
        assert len(back) == len(getattr(result, table))


# -- protocol ----------------------------------------------------------------------
FITS = []


class RecordingRegressor(RegressorMixin, BaseEstimator):
    """Ridge that records what each fit received (for protocol tests)."""

    # Domain labels by metadata routing, as the package's domain-aware models.
    __metadata_request__fit = {"groups": True}

    def __init__(self, warm_start_from=None, local_domain=None, verbose=0):
        self.warm_start_from = warm_start_from
        self.local_domain = local_domain
        self.verbose = verbose

    def fit(self, X, y, groups=None):
        FITS.append({"id": id(self), "n": len(X), "groups": groups, "y": np.asarray(y),
                     "local_domain": self.local_domain, "source": self.warm_start_from,
                     "verbose": self.verbose})
        self.ridge_ = Ridge().fit(X, y)
        return self

    def predict(self, X):
        return self.ridge_.predict(X)


def _toy_library(n_per_domain=30, n_domains=3, missing=False):
    rng = np.random.default_rng(0)
    n = n_per_domain * n_domains
    X = rng.normal(size=(n, 12))
    Y = np.c_[X[:, 0] + 0.1 * rng.normal(size=n), X[:, 1] - X[:, 2]]
    if missing:
        Y[::4, 1] = np.nan
    return SpectralLibrary(X=X, Y=Y, groups=np.repeat([f"d{i}" for i in range(n_domains)],
                                                      n_per_domain),
                           wavelengths=np.arange(400.0, 412.0), target_names=["OC", "pH"],
                           folds=np.tile(np.arange(1, 4), n // 3))


def test_global_model_is_fitted_once_per_domain_and_shared_by_transfer():
    FITS.clear()
    models = {
        "glob": ModelSpec(RecordingRegressor(), "global", missing_targets="native"),
        "tr1": ModelSpec(RecordingRegressor(), "transfer", source="glob",
                         missing_targets="native"),
        "tr2": ModelSpec(make_pipeline(SNV(), RecordingRegressor()), "transfer", source="glob",
                         missing_targets="native"),
    }
    LocalisationExperiment(models=models, target_domains=["d1"], n_repeats=3,
                           verbose=0).run(_toy_library())
    global_fits = [f for f in FITS if f["source"] is None]
    transfer_fits = [f for f in FITS if f["source"] is not None]
    assert len(global_fits) == 1 and global_fits[0]["n"] == 60  # the two other domains
    assert len(transfer_fits) == 2 * 3  # two transfer models x three repeats
    # Every transfer fit starts from that very fitted global model.
    sources = {id(f["source"]) for f in transfer_fits}
    assert len(sources) == 1
    assert all(f["n"] == 27 for f in transfer_fits)  # 30 local minus 10 % test


def test_spiked_models_get_global_and_local_rows_with_groups():
    FITS.clear()
    models = {"spk": ModelSpec(make_pipeline(SNV(), RecordingRegressor()), "spiked",
                               missing_targets="native")}
    LocalisationExperiment(models=models, target_domains=["d0"], n_repeats=1,
                           test_size=10, verbose=0).run(_toy_library())
    (fit,) = FITS
    assert fit["n"] == 60 + 20
    assert fit["local_domain"] == "d0"
    assert (np.asarray(fit["groups"]) == "d0").sum() == 20


@pytest.mark.parametrize("pipeline", [False, True])
def test_global_models_get_the_domain_labels(pipeline):
    FITS.clear()
    est = make_pipeline(SNV(), RecordingRegressor()) if pipeline else RecordingRegressor()
    LocalisationExperiment(models={"glob": ModelSpec(est, "global", missing_targets="native")},
                           target_domains=["d1"], n_repeats=1, verbose=0).run(_toy_library())
    (fit,) = FITS
    assert fit["n"] == 60
    assert np.array_equal(np.asarray(fit["groups"]), np.repeat(["d0", "d2"], 30))


def test_global_models_without_groups_in_fit_still_run():
    lib = _toy_library()
    res = LocalisationExperiment(models={"glob": ModelSpec(Ridge(), "global")},
                                 target_domains=["d1"], n_repeats=1, verbose=0).run(lib)
    assert res.scores_pooled["rmse"].notna().all()


class UnrequestingRecorder(RecordingRegressor):
    """Its fit takes groups, but it does not request them."""

    __metadata_request__fit = {"groups": None}


def test_groups_go_only_to_models_that_request_them():
    FITS.clear()
    LocalisationExperiment(
        models={"glob": ModelSpec(UnrequestingRecorder(), "global", missing_targets="native")},
        target_domains=["d1"], n_repeats=1, verbose=0).run(_toy_library())
    (fit,) = FITS
    assert fit["n"] == 60 and fit["groups"] is None


def test_a_step_can_decline_the_groups_by_set_fit_request():
    FITS.clear()
    with sklearn.config_context(enable_metadata_routing=True):
        est = make_pipeline(SNV(), RecordingRegressor().set_fit_request(groups=False))
    LocalisationExperiment(models={"glob": ModelSpec(est, "global", missing_targets="native")},
                           target_domains=["d1"], n_repeats=1, verbose=0).run(_toy_library())
    (fit,) = FITS
    assert fit["groups"] is None


def test_global_pls_cv_in_a_pipeline_gets_the_domains():
    lib = _toy_library()
    pls = make_pipeline(SNV(), PLSRegressionCV(max_components=3, random_state=0))
    with sklearn.config_context(enable_metadata_routing=True):
        shuffled = make_pipeline(SNV(), PLSRegressionCV(max_components=3, random_state=0)
                                 .set_fit_request(groups=False))
    # Two domains: the global library of each is a single domain, so a grouped
    # inner CV (groups routed through the Pipeline) falls back to KFold and
    # says so; a step that declines the groups never sees them.
    two_domains = lib.subset(lib.groups != "d2")
    with pytest.warns(UserWarning, match="one group"):
        LocalisationExperiment(models={"g": ModelSpec(pls, "global")}, n_repeats=1,
                               target_domains=["d0"], verbose=0).run(two_domains)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LocalisationExperiment(models={"g": ModelSpec(shuffled, "global")}, n_repeats=1,
                               target_domains=["d0"], verbose=0).run(two_domains)


def test_per_target_wrapper_routes_groups():
    wrapped = PerTargetRegressor(make_pipeline(SNV(), RecordingRegressor()))
    assert get_routing_for_object(wrapped).consumes("fit", ["groups"]) == {"groups"}
    assert get_routing_for_object(PerTargetRegressor(Ridge())).consumes("fit", ["groups"]) == set()
    X = np.random.default_rng(0).normal(size=(12, 4))
    Y = np.c_[X[:, 0], X[:, 1]]
    Y[:4, 1] = np.nan
    groups = np.repeat(["a", "b", "c"], 4)
    FITS.clear()
    with sklearn.config_context(enable_metadata_routing=True):
        wrapped.fit(X, Y, groups=groups)
    oc, ph = FITS
    assert list(oc["groups"]) == list(groups) and list(ph["groups"]) == list(groups[4:])


def test_study_baselines_run_with_a_one_domain_global_library():
    # A national library and one farm: every global library is one domain.
    lib = make_spectra(n_samples=80, n_domains=2, wavelengths=np.arange(400.0, 2500.0, 25.0),
                       missing_fraction=0.1, random_state=0)
    models = default_models(fast=True,
                            names=["plsr_local", "plsr_global", "plsr_spiked", "mbl"])
    with pytest.warns(UserWarning, match="one group"):
        res = LocalisationExperiment(models=models, n_repeats=1, test_size=0.25,
                                     verbose=0).run(lib)
    assert set(res.scores_pooled["model"]) == set(models)
    assert len(res.scores_pooled) == 2 * 3 * 4  # domains x properties x models
    assert np.isfinite(res.scores_pooled["rmse"]).all()


def test_global_per_target_fits_get_the_labels_of_their_rows():
    FITS.clear()
    LocalisationExperiment(models={"glob": ModelSpec(RecordingRegressor(), "global")},
                           target_domains=["d1"], n_repeats=1,
                           verbose=0).run(_toy_library(missing=True))
    oc, ph = FITS
    assert len(oc["groups"]) == oc["n"] == 60
    assert len(ph["groups"]) == ph["n"] < 60  # pH is missing on some rows


def test_missing_targets_get_per_target_fits():
    FITS.clear()
    lib = _toy_library(missing=True)
    res = LocalisationExperiment(models={"rec": RecordingRegressor()}, target_domains=["d0"],
                                 n_repeats=1, verbose=0).run(lib)
    assert len(FITS) == 2  # one per property
    assert all(np.isfinite(f["y"]).all() and f["y"].ndim == 1 for f in FITS)
    assert FITS[1]["n"] < FITS[0]["n"]  # pH is missing on some training rows
    assert res.scores_pooled["rmse"].notna().all()


def test_missing_targets_auto_recognises_nan_aware_meta_estimators():
    pls = PLSRegressionCV(max_components=2)
    cnn = SpectralCNNRegressor()
    native = [
        pls, cnn, make_pipeline(SNV(), MemoryBasedRegressor()), SpikedRegressor(pls),
        SeedEnsembleRegressor(make_pipeline(SNV(), cnn), n_estimators=2),
        BlendRegressor([("cnn", cnn), ("pls", make_pipeline(SNV(), pls))]),
        # nested: the benchmark's transfer CNN + tuned-PLSR blend
        BlendRegressor([("ens", SeedEnsembleRegressor(cnn)),
                        ("pls", BlendRegressor([("a", pls), ("b", pls)]))]),
    ]
    per_target = [
        Ridge(), SpikedRegressor(Ridge()), SeedEnsembleRegressor(Ridge()),
        BlendRegressor([("cnn", cnn), ("ridge", make_pipeline(SNV(), Ridge()))]),
        BlendRegressor([("pls", pls), ("inner", BlendRegressor([("r", Ridge())]))]),
    ]
    assert all(ModelSpec(est).native_missing() for est in native)
    assert not any(ModelSpec(est).native_missing() for est in per_target)
    # an explicit choice still wins
    assert not ModelSpec(pls, missing_targets="per_target").native_missing()
    assert ModelSpec(Ridge(), missing_targets="native").native_missing()


def test_nan_aware_blend_gets_the_whole_target_table():
    lib = _toy_library(missing=True)
    blend = BlendRegressor([("a", PLSRegressionCV(max_components=2, random_state=0)),
                            ("b", make_pipeline(SNV(), PLSRegressionCV(max_components=2,
                                                                       random_state=0)))],
                           weights="best", cv=3)
    res = LocalisationExperiment(models={"blend": blend}, target_domains=["d0"], n_repeats=1,
                                 verbose=0).run(lib)
    assert res.scores_pooled["rmse"].notna().all()


def test_verbosity_reaches_the_models(capsys):
    FITS.clear()
    LocalisationExperiment(models={"rec": RecordingRegressor(verbose=1)},
                           target_domains=["d0"], n_repeats=1, verbose=0).run(_toy_library())
    assert {f["verbose"] for f in FITS} == {0}
    assert capsys.readouterr().out == ""
    FITS.clear()
    LocalisationExperiment(models={"rec": RecordingRegressor()}, target_domains=["d0", "d1"],
                           n_repeats=1, verbose=2).run(_toy_library())
    assert {f["verbose"] for f in FITS} == {1}
    out = capsys.readouterr().out
    assert "[1/2] domain 'd0'" in out and "[2/2] domain 'd1'" in out


def test_folds_split_uses_the_library_folds():
    lib = _toy_library()
    res = LocalisationExperiment(models={"r": Ridge()}, target_domains=["d2"], split="folds",
                                 verbose=0).run(lib)
    preds = res.predictions
    assert sorted(preds["repeat"].unique()) == [0, 1, 2]
    # every sample of the domain is tested exactly once per property
    assert preds.groupby("target")["sample_id"].nunique().tolist() == [30, 30]
    assert len(preds) == 2 * 30


def test_cache_global_fits_each_global_model_once_per_global_library():
    lib = _toy_library()
    models = {"glob": ModelSpec(RecordingRegressor(), "global", missing_targets="native"),
              "tr": ModelSpec(RecordingRegressor(), "transfer", source="glob",
                              missing_targets="native")}
    exp = LocalisationExperiment(models=models, target_domains=["d1"], n_repeats=1,
                                 cache_global=True, verbose=0)
    FITS.clear()
    first = exp.run(lib)
    # Another run with other local rows but the same global library (a size
    # curve): the global model is reused, not refitted.
    second = exp.set_params(min_domain_size=10).run(lib.subset(np.r_[0:45, 60:90]))
    global_fits = [f for f in FITS if f["source"] is None]
    assert len(global_fits) == 1
    assert len({id(f["source"]) for f in FITS if f["source"] is not None}) == 1
    assert len(exp.global_models_) == 1
    assert len(second.predictions) < len(first.predictions)
    # A different global library (fewer d0 rows) is a new key: fitted again.
    exp.run(lib.subset(np.r_[5:90]))
    assert len([f for f in FITS if f["source"] is None]) == 2
    assert len(exp.global_models_) == 2
    # Without the option nothing is kept.
    plain = LocalisationExperiment(models=models, target_domains=["d1"], n_repeats=1, verbose=0)
    plain.run(lib)
    assert not hasattr(plain, "global_models_")


def test_cache_global_with_parallel_domains():
    models = {"glob": ModelSpec(Ridge(), "global")}
    exp = LocalisationExperiment(models=models, n_repeats=1, n_jobs=2, cache_global=True,
                                 verbose=0)
    first = exp.run(_toy_library())
    assert sorted(k[1] for k in exp.global_models_) == ["d0", "d1", "d2"]
    again = exp.run(_toy_library())
    pd.testing.assert_frame_equal(first.scores_pooled, again.scores_pooled)


def test_parallel_run_fits_every_global_model_once_per_domain():
    import joblib

    models = {"glob": ModelSpec(RecordingRegressor(), "global", missing_targets="native"),
              "glob2": ModelSpec(RecordingRegressor(), "global", missing_targets="native"),
              "tr": ModelSpec(RecordingRegressor(), "transfer", source="glob",
                              missing_targets="native")}
    FITS.clear()
    one = LocalisationExperiment(models=models, n_repeats=2, verbose=0).run(_toy_library())
    sequential = list(FITS)
    FITS.clear()
    # Threads, so that the fits are recorded here: the global models are
    # tasks of their own before the domains, each fitted once per domain.
    with joblib.parallel_backend("threading"):
        two = LocalisationExperiment(models=models, n_repeats=2, n_jobs=2,
                                     verbose=0).run(_toy_library())
    n_global = sum(f["source"] is None and f["n"] == 60 for f in FITS)
    assert n_global == 3 * 2 and len(FITS) == len(sequential) == 3 * (2 + 2)
    pd.testing.assert_frame_equal(one.predictions, two.predictions, check_dtype=False)


def test_one_fold_id_is_a_held_out_test_set():
    lib = _toy_library()
    folds = np.full(lib.n_samples, np.nan)
    folds[:5] = 1  # five test rows of d0; every other row only trains
    lib.folds = folds
    res = LocalisationExperiment(models={"r": Ridge()}, target_domains=["d0"], split="folds",
                                 verbose=0).run(lib)
    assert res.predictions["sample_id"].nunique() == 5
    lib.folds = np.where(lib.groups == "d0", 1.0, np.nan)  # the whole domain is the test
    with pytest.raises(ValueError, match="needs at least 2 fold ids, or 1 and rows without"):
        LocalisationExperiment(models={"r": Ridge()}, target_domains=["d0"], split="folds",
                               verbose=0).run(lib)


def test_random_splits_do_not_depend_on_n_jobs_or_other_domains():
    lib = _toy_library()
    one = LocalisationExperiment(models={"r": Ridge()}, n_repeats=2, verbose=0).run(lib)
    two = LocalisationExperiment(models={"r": Ridge()}, target_domains=["d1"], n_repeats=2,
                                 n_jobs=2, verbose=0).run(lib)
    a = one.predictions.query("domain == 'd1'").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, two.predictions, check_dtype=False)


def test_default_target_domains_respect_min_domain_size():
    lib = _toy_library().subset(np.r_[0:30, 30:40, 60:90])  # d1 keeps 10 samples
    res = LocalisationExperiment(models={"r": Ridge()}, n_repeats=1, min_domain_size=20,
                                 verbose=0).run(lib)
    assert set(res.predictions["domain"]) == {"d0", "d2"}


def test_default_models_are_the_study_set():
    models = default_models(fast=True)
    trainings = {k: v.training for k, v in models.items()}
    assert trainings == {"plsr_local": "local", "plsr_global": "global",
                         "plsr_spiked": "spiked", "mbl": "spiked", "cnn_local": "local",
                         "cnn_global": "global", "cnn_transfer": "transfer"}
    cnn = models["cnn_transfer"].estimator
    assert cnn.get_params()["cnn__freeze_layers"] == "features"
    assert all(spec.native_missing() for spec in models.values())
    assert default_models(max_epochs=7)["cnn_local"].estimator.get_params()["cnn__max_epochs"] == 7
    with pytest.raises(ValueError, match="Unknown models \\['svm'\\]"):
        default_models(names=["svm"])


def test_default_models_build_only_the_recipes_asked_for(monkeypatch):
    from sklearn_soilspec.experiments import _models

    built = []
    for name in _models.MODEL_NAMES + _models.RECIPE_NAMES:
        original = _models._RECIPES[name]
        monkeypatch.setitem(_models._RECIPES, name,
                            lambda s, _n=name, _f=original: built.append(_n) or _f(s))
    models = default_models(fast=True, names=["blend_ensemble_plsr", "plsr_local"])
    assert list(models) == ["plsr_local", "cnn_global_domain", "blend_ensemble_plsr"]
    assert sorted(built) == sorted(models)
    built.clear()
    assert list(default_models()) == list(_models.MODEL_NAMES)
    assert sorted(built) == sorted(_models.MODEL_NAMES)


def test_default_models_run_on_real_data(limesoda):
    models = default_models(fast=True, max_epochs=2,
                            names=["plsr_local", "plsr_spiked", "mbl", "cnn_transfer"])
    models["mbl"].estimator.set_params(mbl__n_neighbors=20, mbl__pls_components=(2, 4))
    res = LocalisationExperiment(models=models, target_domains=["SSP.58"], n_repeats=1,
                                 test_size=0.2, verbose=0).run(limesoda)
    assert len(res.scores_pooled) == 3 * 5
    assert np.isfinite(res.scores_pooled["rmse"]).all()
    assert len(res.comparison) == 3


# -- errors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, library_change, message",
    [
        ({"target_domains": ["nowhere"]}, None, "Unknown target domains \\['nowhere'\\]"),
        ({"target_domains": ["d0"], "min_domain_size": 40}, None,
         "Target domains \\{'d0': 30\\} have fewer than min_domain_size=40"),
        ({"min_domain_size": 100}, None, "No domain has min_domain_size=100"),
        ({"targets": ["CEC"]}, None, "Unknown targets \\['CEC'\\]"),
        ({"split": "folds"}, "no_folds", "split='folds' needs a library with `folds`"),
        ({}, "nan", "NaN or infinite spectra"),
        ({"models": {}}, None, "models is empty"),
        ({"models": {"t": ModelSpec(Ridge(), "transfer", source="g")}}, None,
         "source must name a 'global' model"),
        ({"models": {"g": ModelSpec(Ridge(), "global"),
                     "t": ModelSpec(Ridge(), "transfer", source="g")}}, None,
         "needs an estimator with a `warm_start_from` parameter"),
        ({"models": {"x": ModelSpec(Ridge(), "pooled")}}, None, "training must be one of"),
        ({"models": {"g": ModelSpec(Ridge(), "global")}}, "one_domain",
         "need at least two domains"),
        ({"test_size": 30}, None, "test_size=30 leaves no training rows"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, library_change, message):
    lib = _toy_library()
    if library_change == "no_folds":
        lib.folds = None
    elif library_change == "nan":
        lib.X[3, 2] = np.nan
    elif library_change == "one_domain":
        lib = lib.subset(lib.groups == "d0")
    kwargs.setdefault("models", {"r": Ridge()})
    with pytest.raises(ValueError, match=message):
        LocalisationExperiment(verbose=0, **kwargs).run(lib)


def test_invalid_parameter_and_non_library():
    with pytest.raises(ValueError, match="n_repeats"):
        LocalisationExperiment(n_repeats=0).run(_toy_library())
    with pytest.raises(ValueError, match="needs a SpectralLibrary"):
        LocalisationExperiment().run(np.zeros((3, 3)))


def test_a_failing_model_names_itself():
    lib = _toy_library()
    with pytest.raises(ValueError) as info:
        LocalisationExperiment(models={"too_many": PLSRegression(n_components=50)},
                               verbose=0).run(lib)
    assert "while fitting model 'too_many' on domain 'd0', repeat 0" in info.value.__notes__


# -- PerTargetRegressor ------------------------------------------------------------
@parametrize_with_checks([PerTargetRegressor(Ridge())])
def test_per_target_regressor_passes_sklearn_checks(estimator, check):
    check(estimator)


def test_per_target_regressor_fits_observed_rows_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    Y = np.c_[X @ [1.0, 0, 0, 0, 0], X @ [0, 2.0, 0, 0, 0]]
    Y[:10, 1] = np.nan
    reg = PerTargetRegressor(Ridge(alpha=1e-6)).fit(X, Y)
    # The missing pH values do not disturb the fit: both targets are exact.
    np.testing.assert_allclose(reg.predict(X), np.c_[X[:, 0], 2 * X[:, 1]], atol=1e-4)
    direct = clone(Ridge(alpha=1e-6)).fit(X[10:], Y[10:, 1])
    np.testing.assert_allclose(reg.estimators_[1].coef_, direct.coef_)


def test_per_target_regressor_errors():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="Target 1 has no observed value"):
        PerTargetRegressor(Ridge()).fit(X, np.c_[np.ones(4), np.full(4, np.nan)])
    with pytest.raises(ValueError, match="y contains infinite values"):
        PerTargetRegressor(Ridge()).fit(X, np.array([1.0, np.inf, 1.0, 2.0]))


WORKERS = []


class WorkerProbe(Ridge):
    """Ridge that records the dask worker fitting it (fails outside a worker)."""

    def fit(self, X, y):
        from distributed import get_worker

        WORKERS.append(get_worker().address)
        return super().fit(X, y)


@pytest.mark.slow
def test_domains_spread_over_a_dask_cluster(limesoda):
    distributed = pytest.importorskip("distributed")
    import joblib

    WORKERS.clear()
    models = {"pls_local": PLSRegression(4),
              "pls_global": ModelSpec(PLSRegression(4), training="global"),
              "probe": WorkerProbe()}
    serial = LocalisationExperiment(models={k: models[k] for k in ("pls_local", "pls_global")},
                                    n_repeats=2, verbose=0).run(limesoda)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        spread = LocalisationExperiment(models=models, n_repeats=2, n_jobs=-1,
                                        verbose=0).run(limesoda)
    # Unchanged code ran on the cluster's workers (get_worker fails elsewhere).
    assert len(WORKERS) == 2 * 2 * 3  # domains x repeats x per-property fits
    pd.testing.assert_frame_equal(
        serial.scores_pooled.drop(columns="rank"),
        spread.scores_pooled.query("model != 'probe'").drop(columns="rank").reset_index(drop=True),
    )


def _replicate_library():
    """The toy library whose domain d1 holds 10 samples scanned 3 times each."""
    lib = _toy_library()
    ids = np.array([f"x{i}" for i in range(len(lib.X))], dtype=object)
    d1 = np.flatnonzero(lib.groups == "d1")
    ids[d1] = [f"s{i % 10}" for i in range(d1.size)]
    return SpectralLibrary(X=lib.X, Y=lib.Y, groups=lib.groups, wavelengths=lib.wavelengths,
                           target_names=lib.target_names, sample_ids=ids)


def test_replicate_scans_are_split_and_fitted_by_sample():
    # Domain d1 holds 10 samples scanned 3 times each (one id per sample):
    # a test scan's twins must not be in training, and the local fit gets
    # the ids as groups for its own folds.
    lib = _replicate_library()
    class SampleGroups(UnrequestingRecorder):
        _groups_are_samples = True  # as LocalisedRegressor: no routing request needed

    FITS.clear()
    res = LocalisationExperiment(models={"loc": ModelSpec(SampleGroups(), "local",
                                                          missing_targets="native")},
                                 target_domains=["d1"], n_repeats=3, test_size=0.3,
                                 verbose=0).run(lib)
    assert len(FITS) == 3
    for repeat, fit in enumerate(FITS):
        tested = set(res.predictions.query("repeat == @repeat")["sample_id"])
        assert len(tested) == 3 and fit["groups"] is not None
        assert not tested & set(fit["groups"])
        assert len(fit["groups"]) == 21 and set(fit["groups"]) | tested == {f"s{i}" for i in range(10)}


def test_sample_ids_reach_fold_groups_but_never_domain_groups():
    # With replicate scans, a local model whose groups only split its inner
    # folds gets the sample ids; one that takes groups as domains (a network
    # standardising per domain) must not read each sample as a domain: it is
    # fitted without them, and told.
    lib = _replicate_library()

    class FoldGroups(RecordingRegressor):
        _groups_are_folds = True  # as PLSRegressionCV

    for model, passed in ((FoldGroups(), True), (RecordingRegressor(), False)):
        FITS.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            LocalisationExperiment(models={"m": ModelSpec(model, "local", missing_targets="native")},
                                   target_domains=["d1"], n_repeats=2, test_size=0.3,
                                   verbose=0).run(lib)
        said = [str(w.message) for w in caught if "sample ids of the replicate scans" in
                str(w.message)]
        assert len(FITS) == 2
        assert all((fit["groups"] is not None) == passed for fit in FITS)
        assert len(said) == (0 if passed else 1)
        if said:
            assert "'m'" in said[0] and "takes groups as domains" in said[0]


def test_sample_ids_are_safe_looks_inside_pipelines_and_ensembles():
    from sklearn.ensemble import VotingRegressor
    from sklearn.pipeline import make_pipeline

    from sklearn_soilspec.baselines import PLSRegressionCV
    from sklearn_soilspec.experiments._spec import sample_ids_are_safe
    from sklearn_soilspec.localised import LocalisedRegressor
    from sklearn_soilspec.neural import SpectralCNNRegressor
    from sklearn_soilspec.preprocessing import SavitzkyGolay

    assert sample_ids_are_safe(make_pipeline(SavitzkyGolay(), PLSRegressionCV()))
    assert not sample_ids_are_safe(make_pipeline(SavitzkyGolay(), SpectralCNNRegressor()))
    assert not sample_ids_are_safe(VotingRegressor([("pls", PLSRegressionCV()),
                                                    ("cnn", SpectralCNNRegressor())]))
    # It hands the ids to its candidates itself, network source or not.
    assert sample_ids_are_safe(LocalisedRegressor(SpectralCNNRegressor()))
