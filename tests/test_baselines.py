"""Baselines on synthetic data: known answers, error messages, sklearn contracts."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_soilspec.baselines import (
    MemoryBasedRegressor,
    PCAGaussianProcessRegressor,
    PLSRegressionCV,
    SpikedRegressor,
)
from sklearn_soilspec.baselines._local_pls import batched_pls1, wapls_weights
from sklearn_soilspec.baselines._pls_cv import _truncated_predictions


@parametrize_with_checks(
    [
        PLSRegressionCV(max_components=5),
        PLSRegressionCV(max_components=4, multioutput="joint", one_standard_error=True),
        SpikedRegressor(PLSRegressionCV(max_components=3, random_state=0)),
        SpikedRegressor(Ridge()),
        MemoryBasedRegressor(n_neighbors=30, pls_components=(2, 5)),
        MemoryBasedRegressor(
            n_neighbors=[10, 30],
            space="spectra",
            metric="correlation",
            local_model="pls",
            pls_components=3,
        ),
        PCAGaussianProcessRegressor(n_components=5, n_restarts_optimizer=0),
        PCAGaussianProcessRegressor(kernel="rbf", n_restarts_optimizer=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _low_rank(rng, n=80, p=40, rank=4, noise=0.01):
    scores = rng.normal(size=(n, rank))
    X = scores @ rng.normal(size=(rank, p)) + noise * rng.normal(size=(n, p))
    y = scores @ rng.normal(size=rank) + noise * rng.normal(size=n)
    return X, y


# ---------------------------------------------------------------- local PLS
def test_batched_pls1_matches_sklearn(rng):
    m, k, p, n_comp = 5, 25, 40, 8
    X = rng.normal(size=(m, k, p)) + rng.normal(size=(m, 1, p))
    y = rng.normal(size=(m, k))
    Xq = rng.normal(size=(m, p))
    y_hat, x_res, coef_rms = batched_pls1(X, y, Xq, n_comp)
    for i in range(m):
        for a in range(1, n_comp + 1):
            pls = PLSRegression(n_components=a, scale=False).fit(X[i], y[i])
            np.testing.assert_allclose(y_hat[i, a - 1], pls.predict(Xq[i : i + 1]).ravel()[0], atol=1e-8)
            np.testing.assert_allclose(coef_rms[i, a - 1], np.sqrt(np.mean(pls.coef_**2)), atol=1e-8)
            xc = Xq[i] - X[i].mean(axis=0)
            resid = xc - (xc @ pls.x_rotations_) @ pls.x_loadings_.T
            np.testing.assert_allclose(x_res[i, a - 1], np.sqrt(np.mean(resid**2)), atol=1e-8)


def test_batched_pls1_survives_a_fully_explained_y(rng):
    X = rng.normal(size=(2, 10, 3))
    y = X[:, :, 0].copy()  # exactly linear in one wavelength
    y_hat, _, _ = batched_pls1(X, y, X[:, 0], 3)
    assert np.isfinite(y_hat).all()
    np.testing.assert_allclose(y_hat[:, -1], y[:, 0], atol=1e-8)


def test_wapls_weights_follow_resemble_formula():
    s = np.array([[1.0, 0.5, 0.25]])
    g = np.array([[1.0, 1.0, 4.0]])
    expected = 1 / (s * g)
    np.testing.assert_allclose(wapls_weights(s, g), expected / expected.sum())
    # A zero residual must not give NaN.
    assert np.isfinite(wapls_weights(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))).all()


# ----------------------------------------------------------- PLSRegressionCV
@pytest.mark.parametrize("scale", [False, True])
def test_truncated_predictions_equal_separate_fits(rng, scale):
    X = rng.normal(size=(40, 12))
    Y = rng.normal(size=(40, 2))
    full = PLSRegression(n_components=6, scale=scale).fit(X, Y)
    y_std = Y.std(axis=0, ddof=1) if scale else np.ones(2)
    curves = _truncated_predictions(full, X[:7], y_std)
    for a in range(1, 7):
        alone = PLSRegression(n_components=a, scale=scale).fit(X, Y)
        np.testing.assert_allclose(curves[a - 1], alone.predict(X[:7]), atol=1e-8)


def test_pls_cv_finds_the_rank(rng):
    X, y = _low_rank(rng, rank=4)
    model = PLSRegressionCV(max_components=15, random_state=0).fit(X, y)
    assert 4 <= model.n_components_ <= 6
    assert model.cv_rmse_.shape == (15,)
    assert model.cv_rmse_[model.n_components_ - 1] < 0.1 * model.cv_rmse_[0]
    parsimonious = PLSRegressionCV(15, one_standard_error=True, random_state=0).fit(X, y)
    assert parsimonious.n_components_ <= model.n_components_


def test_pls_cv_clips_components_to_the_data(rng):
    X = rng.normal(size=(12, 5))
    model = PLSRegressionCV(max_components=50, cv=3, random_state=0).fit(X, X[:, 0])
    # 5 wavelengths; the smallest training fold has 8 rows.
    assert model.max_components_ == 5
    model = PLSRegressionCV(max_components=50, cv=4, random_state=0).fit(
        rng.normal(size=(8, 30)), rng.normal(size=8)
    )
    assert model.max_components_ == 5  # 6 training rows -> rank 5


def test_pls_cv_nan_targets_fit_per_target_on_measured_rows(rng):
    X, y = _low_rank(rng, n=60)
    Y = np.column_stack([y, 2 * y + 1])
    Y[::3, 1] = np.nan
    model = PLSRegressionCV(8, random_state=0).fit(X, Y)
    assert model.n_components_.shape == (2,) and model.cv_rmse_.shape == (2, 8)
    measured = ~np.isnan(Y[:, 1])
    alone = PLSRegression(int(model.n_components_[1]), scale=False).fit(X[measured], Y[measured, 1])
    np.testing.assert_allclose(model.predict(X)[:, 1], alone.predict(X).ravel())
    assert np.isfinite(model.predict(X)).all()


def test_pls_cv_joint_is_one_pls2(rng):
    X, y = _low_rank(rng)
    Y = np.column_stack([y, -y + 0.1 * rng.normal(size=y.size)])
    model = PLSRegressionCV(8, multioutput="joint", random_state=0).fit(X, Y)
    assert len(model.estimators_) == 1
    assert model.n_components_[0] == model.n_components_[1]
    Y[0, 1] = np.nan
    with pytest.raises(ValueError, match="multioutput='joint'.*needs every target measured"):
        PLSRegressionCV(8, multioutput="joint").fit(X, Y)


def test_pls_cv_groups_keep_groups_together(rng):
    X, y = _low_rank(rng, n=40)
    groups = np.repeat(np.arange(8), 5)
    model = PLSRegressionCV(5, cv=4, random_state=0)
    for train, test in model._splits(X, np.arange(40), groups):
        assert not set(groups[train]) & set(groups[test])
    model.fit(X, y, groups=groups)
    assert 1 <= model.n_components_ <= 5


def test_pls_cv_accepts_precomputed_folds_with_missing_targets(rng):
    X, y = _low_rank(rng, n=40)
    y[:4] = np.nan
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    model = PLSRegressionCV(5, cv=folds).fit(X, y)
    assert np.isfinite(model.cv_rmse_).all()


def test_pls_cv_clips_folds_to_the_measured_rows(rng):
    X, y = _low_rank(rng, n=10)
    y = y.astype(float)
    Y = np.column_stack([y, y])
    Y[4:, 1] = np.nan  # 4 measured values for 10 folds: 4-fold CV
    model = PLSRegressionCV(5, cv=10, random_state=0).fit(X, Y)
    # leave-one-out on 4 rows: 3 training rows allow 2 components
    assert np.isfinite(model.cv_rmse_[1, :2]).all() and np.isnan(model.cv_rmse_[1, 2:]).all()
    assert np.isfinite(model.cv_rmse_[0]).all()  # 10 rows, 9 training rows
    # the same clip for groups: 3 groups for cv=5
    model = PLSRegressionCV(5, cv=5, random_state=0).fit(X, y, groups=np.arange(10) % 3)
    assert model.n_components_ >= 1


def test_pls_cv_with_one_group_falls_back_to_shuffled_kfold(rng):
    X, y = _low_rank(rng, n=10)
    groups = np.r_[np.zeros(5), np.ones(5)]
    y = np.where(groups == 0, y, np.nan)  # every measured row in group 0
    with pytest.warns(UserWarning, match="all in one group; the inner CV uses shuffled KFold"):
        model = PLSRegressionCV(3, cv=5, random_state=0).fit(X, y, groups=groups)
    # The same folds as without groups on the measured rows.
    plain = PLSRegressionCV(3, cv=5, random_state=0).fit(X, y)
    np.testing.assert_allclose(model.cv_rmse_, plain.cv_rmse_)
    assert model.n_components_ == plain.n_components_


def test_pls_cv_of_a_one_domain_library_warns_once_per_target(rng):
    X, y = _low_rank(rng, n=30)
    Y = np.column_stack([y, -y])
    with pytest.warns(UserWarning, match="one group") as record:
        PLSRegressionCV(3, random_state=0).fit(X, Y, groups=np.full(30, "national"))
    assert len([w for w in record if "one group" in str(w.message)]) == 2


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.full((10, 3), np.nan), np.ones(10), "Input X contains NaN"),
        (np.ones((10, 3)), np.r_[np.inf, np.ones(9)], "infinity"),
        (np.ones((10, 3)), np.column_stack([np.ones(10), np.full(10, np.nan)]),
         r"target_1.*all NaN"),
        (np.ones((10, 3)), np.r_[np.ones(2), np.full(8, np.nan)], "2 measured value"),
        (np.ones((10, 3)), None, "requires y"),
        (np.ones((10, 3)), np.ones(9), "X has 10 samples but y has 9"),
    ],
)
def test_pls_cv_bad_input(X, y, match):
    with pytest.raises(ValueError, match=match):
        PLSRegressionCV(3).fit(X, y)


def test_pls_cv_wrong_wavelength_count_and_groups(rng):
    X, y = _low_rank(rng, n=30)
    model = PLSRegressionCV(3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 39 features, but PLSRegressionCV is expecting 40"):
        model.predict(X[:, 1:])
    with pytest.raises(ValueError, match="groups must have one entry per row"):
        PLSRegressionCV(3).fit(X, y, groups=np.ones(5))


# ----------------------------------------------------------- SpikedRegressor
def _spiking_data(rng):
    X = rng.normal(size=(50, 6))
    groups = np.array(["global"] * 40 + ["farm"] * 10)
    y = X[:, 0] + (groups == "farm") * 3 * X[:, 1]
    return X, y, groups


def test_spiking_uses_sample_weight_when_the_estimator_takes_it(rng):
    X, y, groups = _spiking_data(rng)
    model = SpikedRegressor(Ridge(), spike_weight=4, local_domain="farm").fit(X, y, groups=groups)
    ref = Ridge().fit(X, y, sample_weight=np.where(groups == "farm", 4.0, 1.0))
    assert model.spike_method_ == "sample_weight" and model.n_local_ == 10
    np.testing.assert_allclose(model.predict(X), ref.predict(X))


def test_spiking_repeats_rows_for_pls_and_rounds_explicitly(rng):
    X, y, groups = _spiking_data(rng)
    local = groups == "farm"
    model = SpikedRegressor(PLSRegression(3), spike_weight=3).fit(X, y, is_local=local)
    Xr = np.vstack([X, X[local], X[local]])
    yr = np.r_[y, y[local], y[local]]
    np.testing.assert_allclose(model.predict(X), PLSRegression(3).fit(Xr, yr).predict(X))
    assert model.spike_method_ == "repeat" and model.spike_weight_ == 3.0
    with pytest.warns(UserWarning, match=r"spike_weight=2.6 is rounded to 3 copies"):
        rounded = SpikedRegressor(PLSRegression(3), spike_weight=2.6).fit(X, y, is_local=local)
    assert rounded.spike_weight_ == 3.0


def test_spiking_keeps_copies_in_one_fold_of_a_pipeline_pls_cv(rng):
    X, y, groups = _spiking_data(rng)
    inner = make_pipeline(FunctionTransformer(), PLSRegressionCV(5, random_state=0))
    model = SpikedRegressor(inner, spike_weight=3, local_domain="farm").fit(X, y, groups=groups)
    direct = SpikedRegressor(PLSRegressionCV(5, random_state=0), spike_weight=3,
                             local_domain="farm").fit(X, y, groups=groups)
    # The same row-index groups reach the PLS inside the Pipeline.
    np.testing.assert_allclose(model.estimator_[-1].cv_rmse_, direct.estimator_.cv_rmse_)


class _GroupSpy(RegressorMixin, BaseEstimator):
    def fit(self, X, y, groups=None):
        self.groups_ = groups
        self.n_rows_ = len(X)
        return self

    def predict(self, X):
        return np.zeros(len(X))


def test_spiking_keeps_copies_of_a_row_in_one_inner_fold(rng):
    X, y, groups = _spiking_data(rng)
    model = SpikedRegressor(_GroupSpy(), spike_weight=5, local_domain="farm")
    model.fit(X, y, groups=groups)
    inner = model.estimator_.groups_
    assert model.estimator_.n_rows_ == 40 + 5 * 10
    # Every copy of local row 45 carries group 45.
    assert np.sum(inner == 45) == 5 and np.sum(inner == 3) == 1


def test_spiking_balanced_weight(rng):
    X, y, groups = _spiking_data(rng)
    model = SpikedRegressor(Ridge(), spike_weight="balanced", local_domain="farm")
    assert model.fit(X, y, groups=groups).spike_weight_ == 4.0  # 40 global / 10 local


def test_spiking_without_local_rows_is_the_estimator(rng):
    X, y, _ = _spiking_data(rng)
    model = SpikedRegressor(Ridge()).fit(X, y)
    assert model.spike_method_ == "none"
    np.testing.assert_allclose(model.predict(X), Ridge().fit(X, y).predict(X))


def test_spiking_errors(rng):
    X, y, groups = _spiking_data(rng)
    with pytest.raises(ValueError, match="needs the domain of every row: pass groups="):
        SpikedRegressor(Ridge(), local_domain="farm").fit(X, y)
    with pytest.raises(ValueError, match="matches no row of groups"):
        SpikedRegressor(Ridge(), local_domain="ranch").fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="is_local must be a boolean array"):
        SpikedRegressor(Ridge()).fit(X, y, is_local=np.ones(50))
    with pytest.raises(ValueError, match="spike_weight"):
        SpikedRegressor(Ridge(), spike_weight=0.5).fit(X, y)


def _local_test_folds(groups, local):
    glob, loc = np.flatnonzero(groups != local), np.flatnonzero(groups == local)
    kf = KFold(5, shuffle=True, random_state=0)
    return [(np.r_[glob, loc[tr]], loc[te]) for tr, te in kf.split(loc)]


def test_spiking_inside_cross_val_score(rng):
    X, y, groups = _spiking_data(rng)
    cv = _local_test_folds(groups, "farm")
    kw = dict(cv=cv, scoring="neg_root_mean_squared_error")
    spiked = SpikedRegressor(LinearRegression(), spike_weight=10, local_domain="farm")
    with_spike = -cross_val_score(spiked, X, y, params={"groups": groups}, **kw).mean()
    plain = -cross_val_score(LinearRegression(), X, y, **kw).mean()
    assert with_spike < 0.8 * plain
    with sklearn.config_context(enable_metadata_routing=True):
        routed = -cross_val_score(clone(spiked), X, y, params={"groups": groups}, **kw).mean()
    np.testing.assert_allclose(routed, with_spike)


def test_cubist_works_as_a_spiked_estimator(rng):
    cubist = pytest.importorskip("cubist")
    X, y, groups = _spiking_data(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # cubist warns about feature names
        model = SpikedRegressor(cubist.Cubist(n_rules=5), local_domain="farm")
        model.fit(X, y, groups=groups)
        assert model.spike_method_ == "sample_weight"
        assert np.isfinite(model.predict(X)).all()


# ------------------------------------------------------ MemoryBasedRegressor
def _two_laws(rng, n=400, p=30):
    """Two spectral families, each with its own linear law for y."""
    base = rng.normal(size=(2, p)) * 3
    cluster = rng.integers(0, 2, size=n)
    factors = rng.normal(size=(n, 3))
    loadings = rng.normal(size=(3, p))
    X = base[cluster] + factors @ loadings + 0.01 * rng.normal(size=(n, p))
    laws = np.array([[1.0, 0.0, 0.0], [-2.0, 1.0, 0.0]])
    y = np.einsum("nf,nf->n", factors, laws[cluster]) + 5.0 * cluster
    return X, y, cluster


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(metric="euclidean"),
        dict(space="spectra", metric="correlation", local_model="pls", pls_components=4),
        dict(space="spectra", metric="euclidean"),
    ],
)
def test_mbl_follows_the_law_of_the_query_cluster(rng, params):
    X, y, cluster = _two_laws(rng, n=460)
    X, y, Xq, yq, cq = X[:400], y[:400], X[400:], y[400:], cluster[400:]
    params = {"pls_components": (2, 6), **params}
    mbl = MemoryBasedRegressor(n_neighbors=30, **params).fit(X, y)
    pred = mbl.predict(Xq)
    # One global linear law cannot fit both clusters; local models can.
    global_err = np.abs(LinearRegression().fit(X, y).predict(Xq) - yq)
    assert np.median(global_err) > 0.5
    for c in (0, 1):
        err = np.abs(pred[cq == c] - yq[cq == c])
        # Mahalanobis neighbourhoods of a query at a cluster's edge may hold a
        # few rows of the other cluster: bound the typical and the worst error.
        assert np.median(err) < 0.02 and err.max() < 0.25


def test_mbl_spike_forces_local_rows_into_every_neighbourhood(rng):
    X, y, cluster = _two_laws(rng, n=200)
    local = np.arange(200) >= 180
    mbl = MemoryBasedRegressor(
        n_neighbors=15, space="spectra", metric="euclidean", local_model="pls",
        pls_components=3, spike=True,
    ).fit(X, y, is_local=local)
    queries = X[:4] + 0.1
    # Reference: PLS on the 15 nearest non-local rows plus all 20 local rows.
    glob = np.flatnonzero(~local)
    for q, pred in zip(queries, mbl.predict(queries)):
        nearest = glob[np.argsort(((X[glob] - q) ** 2).sum(axis=1))[:15]]
        rows = np.r_[nearest, np.flatnonzero(local)]
        ref = PLSRegression(3, scale=False).fit(X[rows], y[rows]).predict(q[None])
        np.testing.assert_allclose(pred, ref.ravel()[0], atol=1e-8)
    assert mbl.is_local_.sum() == 20


def test_mbl_nan_targets_use_rows_where_measured(rng):
    X, y, _ = _two_laws(rng)
    Y = np.column_stack([y, y])
    Y[::2, 1] = np.nan
    mbl = MemoryBasedRegressor(n_neighbors=40, pls_components=(2, 5), space="spectra",
                               metric="euclidean").fit(X, Y)
    ref = MemoryBasedRegressor(n_neighbors=40, pls_components=(2, 5), space="spectra",
                               metric="euclidean").fit(X[1::2], y[1::2])
    pred = mbl.predict(X[:20])
    assert pred.shape == (20, 2) and np.isfinite(pred).all()
    np.testing.assert_allclose(pred[:, 1], ref.predict(X[:20]))


def test_mbl_chooses_among_neighbourhood_sizes(rng):
    X, y, _ = _two_laws(rng)
    mbl = MemoryBasedRegressor(n_neighbors=[20, 60, 350], pls_components=(2, 5), random_state=0)
    mbl.fit(X, y)
    assert mbl.validation_rmse_.shape == (1, 3)
    # 350 neighbours mix both laws: the validation must not pick it.
    assert mbl.n_neighbors_[0] in (20, 60)
    assert mbl.validation_rmse_[0, 2] > mbl.validation_rmse_[0].min()


def test_mbl_threads_give_the_same_predictions(rng):
    X, y, _ = _two_laws(rng, n=600)
    one = MemoryBasedRegressor(n_neighbors=30, pls_components=(2, 4)).fit(X, y).predict(X)
    two = MemoryBasedRegressor(n_neighbors=30, pls_components=(2, 4), n_jobs=2).fit(X, y).predict(X)
    np.testing.assert_allclose(one, two)


@pytest.mark.parametrize(
    "params, fit_kw, match",
    [
        (dict(space="spectra"), {}, "metric='mahalanobis' needs space='pca'"),
        (dict(local_model="pls"), {}, "local_model='pls' fits one PLS with a fixed number"),
        (dict(pls_components=(5, 2)), {}, "pls_components must be an int or a"),
        (dict(spike=True), {}, "spike=True adds the local rows"),
        (dict(n_neighbors=[1, 5]), {}, "n_neighbors must be an int >= 2"),
        (dict(local_domain="farm"), {}, "needs the domain of every row"),
    ],
)
def test_mbl_bad_options(rng, params, fit_kw, match):
    X, y, _ = _two_laws(rng, n=50)
    with pytest.raises(ValueError, match=match):
        MemoryBasedRegressor(**params).fit(X, y, **fit_kw)


def test_mbl_bad_spectra(rng):
    X, y, _ = _two_laws(rng, n=50)
    mbl = MemoryBasedRegressor(n_neighbors=20, pls_components=(2, 4)).fit(X, y)
    with pytest.raises(ValueError, match="X has 29 features, but MemoryBasedRegressor is expecting 30"):
        mbl.predict(X[:, 1:])
    X_nan = X.copy()
    X_nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        mbl.predict(X_nan)


# ------------------------------------------------------------- GP on PC scores
def test_gp_fits_a_nonlinear_property_that_pls_cannot(rng):
    # The property depends on a spectral score through a parabola: a linear
    # latent-variable model sees no signal, a GP with an RBF part does.
    scores = rng.normal(size=(120, 3))
    X = scores @ rng.normal(size=(3, 50)) + 0.01 * rng.normal(size=(120, 50))
    y = scores[:, 0] ** 2 + 0.05 * rng.normal(size=120)
    train, test = slice(0, 80), slice(80, None)
    gp = PCAGaussianProcessRegressor(n_restarts_optimizer=0).fit(X[train], y[train])
    pls = PLSRegressionCV(max_components=10, random_state=0).fit(X[train], y[train])
    rmse_gp = np.sqrt(np.mean((gp.predict(X[test]) - y[test]) ** 2))
    rmse_pls = np.sqrt(np.mean((pls.predict(X[test]) - y[test]) ** 2))
    assert rmse_gp < 0.5 * rmse_pls
    assert rmse_gp < 0.5 * y[test].std()


def test_gp_fits_each_property_on_its_measured_rows(rng):
    X, y1 = _low_rank(rng, n=40, p=30)
    y2 = X[:, 3] + 0.1 * rng.normal(size=40)
    Y = np.column_stack([y1, y2])
    Y[::3, 1] = np.nan
    model = PCAGaussianProcessRegressor(n_components=8, n_restarts_optimizer=0).fit(X, Y)
    # The second GP saw the same projection, restricted to the rows with pH.
    alone = PCAGaussianProcessRegressor(n_components=8, n_restarts_optimizer=0).fit(X, y2)
    rows = ~np.isnan(Y[:, 1])
    assert model.estimators_[1].X_train_.shape[0] == rows.sum()
    assert model.estimators_[0].X_train_.shape[0] == 40
    assert np.isfinite(model.predict(X)).all()
    # Same projection (fitted on all spectra) and data: the same second GP as
    # a single-target fit would give on those rows.
    single = PCAGaussianProcessRegressor(n_components=8, n_restarts_optimizer=0)
    single.fit(X, np.where(rows, y2, np.nan))
    np.testing.assert_allclose(model.predict(X)[:, 1], single.predict(X), rtol=1e-6, atol=1e-8)
    assert alone.predict(X).shape == (40,)


def test_gp_returns_a_positive_predictive_spread(rng):
    X, y = _low_rank(rng, n=50, p=30)
    model = PCAGaussianProcessRegressor(n_restarts_optimizer=0).fit(X, np.column_stack([y, y]))
    mean, std = model.predict(X[:5], return_std=True)
    assert mean.shape == std.shape == (5, 2)
    assert (std > 0).all()
    np.testing.assert_allclose(mean, model.predict(X[:5]))
    far = X[:1] + 50 * X.std(axis=0)
    assert model.predict(far, return_std=True)[1][0, 0] > std[:, 0].max()


def test_gp_clips_components_to_the_rows_and_keeps_variance_share(rng):
    X, y = _low_rank(rng, n=12, p=30, rank=3)
    assert PCAGaussianProcessRegressor(n_components=50).fit(X, y).n_components_ == 11
    assert PCAGaussianProcessRegressor(n_components=0.9).fit(X, y).n_components_ <= 4


def test_gp_needs_two_measured_values_per_property(rng):
    X = rng.normal(size=(10, 20))
    Y = np.column_stack([rng.normal(size=10), np.r_[1.0, [np.nan] * 9]])
    with pytest.raises(ValueError, match="Target 1 has 1 measured value"):
        PCAGaussianProcessRegressor().fit(X, Y)


def test_gp_names_bad_spectra(rng):
    X, y = _low_rank(rng, n=20, p=30)
    model = PCAGaussianProcessRegressor(n_restarts_optimizer=0).fit(X, y)
    with pytest.raises(ValueError, match="30 features"):
        model.predict(X[:, :25])
    bad = X.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PCAGaussianProcessRegressor().fit(bad, y)


# ---------------------------------------------------- tags, routing, one domain
def test_baselines_declare_missing_targets_by_tag():
    from sklearn_soilspec._targets import allows_missing_targets

    pls = PLSRegressionCV(max_components=2)
    for est in (pls, MemoryBasedRegressor(), PCAGaussianProcessRegressor(), SpikedRegressor(pls)):
        assert allows_missing_targets(est), est
    assert not allows_missing_targets(SpikedRegressor(Ridge()))


def test_baselines_that_use_domains_request_groups():
    from sklearn.utils.metadata_routing import get_routing_for_object

    def consumes(est):
        return get_routing_for_object(est).consumes("fit", ["groups"])

    for est in (PLSRegressionCV(), MemoryBasedRegressor(), SpikedRegressor(Ridge())):
        assert consumes(est) == {"groups"}, est
    assert consumes(PCAGaussianProcessRegressor()) == set()
    with sklearn.config_context(enable_metadata_routing=True):
        assert consumes(PLSRegressionCV().set_fit_request(groups=False)) == set()


def test_pipeline_routes_groups_to_pls_cv(rng):
    X, y = _low_rank(rng, n=40)
    groups = np.repeat(np.arange(8), 5)
    direct = PLSRegressionCV(5, cv=4, random_state=0).fit(X, y, groups=groups)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(FunctionTransformer(), PLSRegressionCV(5, cv=4, random_state=0))
        pipe.fit(X, y, groups=groups)
    np.testing.assert_allclose(pipe[-1].cv_rmse_, direct.cv_rmse_)


def _one_domain_global(rng, n_global=60, n_local=15):
    """A national library (one domain) and one farm: the global set is one group."""
    X = rng.normal(size=(n_global + n_local, 20))
    groups = np.array(["national"] * n_global + ["farm"] * n_local)
    y = X[:, 0] + (groups == "farm") * X[:, 1] + 0.05 * rng.normal(size=len(X))
    return X, y, groups


def test_baselines_fit_a_one_domain_global_library(rng):
    X, y, groups = _one_domain_global(rng)
    glob = groups == "national"
    with pytest.warns(UserWarning, match="one group"):
        PLSRegressionCV(5, random_state=0).fit(X[glob], y[glob], groups=groups[glob])
    spiked = SpikedRegressor(PLSRegressionCV(5, random_state=0), local_domain="farm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # copies get one group each: no fallback needed
        spiked.fit(X, y, groups=groups)
    assert spiked.n_local_ == 15 and spiked.spike_method_ == "repeat"
    mbl = MemoryBasedRegressor(n_neighbors=20, pls_components=(2, 4), spike=True,
                               local_domain="farm").fit(X, y, groups=groups)
    gpr = PCAGaussianProcessRegressor(n_components=5, n_restarts_optimizer=0).fit(X[glob], y[glob])
    for model in (spiked, mbl, gpr):
        assert np.isfinite(model.predict(X[~glob])).all()


def test_pls_cv_on_repeated_spectra_stays_finite_and_identical_rows_are_an_error(rng):
    # Two distinct spectra, each repeated: the rank is 1 whatever the row count.
    base = rng.normal(size=(2, 30))
    X = np.repeat(base, 12, axis=0)
    y = np.repeat([1.0, 3.0], 12) + rng.normal(scale=0.1, size=24)
    model = PLSRegressionCV(max_components=10, random_state=0).fit(X, y)
    assert model.n_components_ == 1
    assert np.isfinite(model.predict(X)).all()
    with pytest.raises(ValueError, match="All 24 spectra are identical"):
        PLSRegressionCV().fit(np.repeat(base[:1], 24, axis=0), y)
