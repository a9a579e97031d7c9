"""Weighted blends of multi-output regressors, NaN targets allowed, weights by validation."""

import itertools
from numbers import Integral, Real

import numpy as np
from sklearn.base import RegressorMixin, _fit_context, clone
from sklearn.model_selection import KFold, ShuffleSplit
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .neural import nan_r2_score
from .neural._callbacks import rmse_per_target

__all__ = ["BlendRegressor"]


class BlendRegressor(RegressorMixin, _BaseComposition):
    """Weighted average of several regressors, per soil property.

    :class:`sklearn.ensemble.VotingRegressor` takes one target and no missing
    values; soil libraries have several properties, each measured on some of
    the samples. This blend hands the whole ``Y`` (NaN where not measured) to
    every member and averages their predictions property by property, with
    fixed weights or with weights chosen on held-out training rows. A
    transfer CNN blended with a local PLSR is then one estimator: in an
    experiment the CNN member is warm-started (the runner finds its
    ``<member>__..__warm_start_from``) while the PLSR member learns locally.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Members; each must accept NaN in ``y`` (the package's
        SpectralCNNRegressor, PLSRegressionCV, MemoryBasedRegressor do; wrap
        others in :class:`~sklearn_soilspec.experiments.PerTargetRegressor`).
    weights : array-like, {"best", "optimal"} or None, default=None
        None: equal weights. An array of one weight per member (or of shape
        ``(n_members, n_targets)``): fixed, normalised to sum to one.
        ``"best"``: per property, the member with the lowest validation RMSE
        (model selection, e.g. between preprocessings). ``"optimal"``: per
        property, the weights on a grid of step ``1 / weight_steps`` with the
        lowest validation RMSE.
    cv : int or float, default=5
        How validation predictions are made for ``"best"`` / ``"optimal"``:
        an int k gives shuffled k-fold out-of-fold predictions, a float in
        (0, 1) one held-out share (cheaper for networks).
    weight_steps : int, default=10
        Grid resolution of ``"optimal"``.
    refit : bool or list of str, default=True
        With weights chosen from data, which members are refitted on all rows
        after the validation fits. The others are *cross-fitted*: they predict
        the mean of their validation-fold models, the very models whose
        held-out predictions chose the weights. Weights validated on a
        network's fold runs then also hold for what predicts (a refit on all
        rows can go astray where the fold runs did not), and the fold models
        are an ensemble at no extra training cost. True: refit every member;
        False: refit none; a list: refit the members of those names (e.g. a
        PLSR, which gains from every row, beside a cross-fitted network).
    random_state : int, RandomState instance or None, default=0
        Seeds the validation split.

    Attributes
    ----------
    estimators_ : list of fitted estimators
        One per member; a cross-fitted member holds its fold models in its
        own ``estimators_`` and predicts their mean.
    named_estimators_ : dict of str -> fitted estimator
    weights_ : ndarray of shape (n_members, n_targets)
        Weights used per property (columns sum to one).
    validation_rmse_ : ndarray of shape (n_members, n_targets) or None
        Members' validation RMSE when weights were chosen from data.

    See Also
    --------
    sklearn_soilspec.ensemble.SeedEnsembleRegressor : average over seeds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> from sklearn_soilspec.baselines import PLSRegressionCV
    >>> from sklearn_soilspec.blend import BlendRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8)); Y = np.c_[X[:, 0], X[:, 1] - X[:, 2]]
    >>> Y[::4, 1] = np.nan                       # not measured everywhere
    >>> blend = BlendRegressor([("pls3", PLSRegressionCV(max_components=3)),
    ...                         ("pls6", PLSRegressionCV(max_components=6))],
    ...                        weights="optimal", cv=3).fit(X, Y)
    >>> blend.predict(X[:2]).shape, blend.weights_.shape
    ((2, 2), (2, 2))
    """

    # y goes whole to every member: NaN targets are fine when every member
    # accepts them (read by the experiment runner).
    _nan_targets = "members"

    _parameter_constraints = {
        "estimators": [list],
        "weights": ["array-like", StrOptions({"best", "optimal"}), None],
        "cv": [Interval(Integral, 2, None, closed="left"), Interval(Real, 0, 1, closed="neither")],
        "weight_steps": [Interval(Integral, 1, None, closed="left")],
        "refit": ["boolean", list],
        "random_state": ["random_state"],
    }

    def __init__(self, estimators, weights=None, cv=5, weight_steps=10, refit=True,
                 random_state=0):
        self.estimators = estimators
        self.weights = weights
        self.cv = cv
        self.weight_steps = weight_steps
        self.refit = refit
        self.random_state = random_state

    def get_params(self, deep=True):
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        self._set_params("estimators", **params)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.allow_nan = False
        return tags

    def _check_estimators(self):
        if not self.estimators:
            raise ValueError("estimators is empty: give at least one (name, estimator) pair.")
        names = [n for n, _ in self.estimators]
        if len(set(names)) != len(names):
            raise ValueError(f"Member names must be unique, got {names}.")
        self._validate_names(names)
        for name, est in self.estimators:
            if not (hasattr(est, "fit") and hasattr(est, "predict")):
                raise TypeError(f"Member {name!r} ({type(est).__name__}) has no fit/predict.")
        return names

    def _refitted(self, names):
        if self.refit is True or self.refit is False:
            refit = set(names) if self.refit else set()
        else:
            unknown = sorted(set(self.refit) - set(names))
            if unknown:
                raise ValueError(f"refit names unknown member(s) {unknown}; members: {names}.")
            refit = set(self.refit)
        if refit != set(names) and not isinstance(self.weights, str):
            raise ValueError(
                "refit other than True needs weights='best' or 'optimal': cross-fitted "
                "members are the models of the validation folds, which fixed weights do "
                "not train."
            )
        return refit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit every member (and choose weights on validation rows if asked).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Passed on as given (a DataFrame keeps its wavelength names).
        y : array-like of shape (n_samples,) or (n_samples, n_targets); NaN allowed

        Returns
        -------
        self : BlendRegressor
        """
        names = self._check_estimators()
        refit = self._refitted(names)
        # Checked for clear errors (sparse, wrong shapes) but passed on as
        # given: a Pipeline member may need a DataFrame's wavelength names.
        validate_data(self, X, reset=True, dtype=None, allow_nd=True, ensure_all_finite=False)
        X = X if hasattr(X, "iloc") else np.asarray(X)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None.")
        Y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                        input_name="y")
        if Y.shape[0] != len(X):
            raise ValueError(f"X has {len(X)} samples but y has {Y.shape[0]}.")
        y = y if hasattr(y, "iloc") else Y
        self._y_is_1d = Y.ndim == 1
        Y2 = Y.reshape(len(Y), -1)
        n_members, n_targets = len(names), Y2.shape[1]
        self.validation_rmse_ = None
        folds = [[] for _ in names]
        if self.weights is None:
            self.weights_ = np.full((n_members, n_targets), 1.0 / n_members)
        elif isinstance(self.weights, str):
            P = self._validation_predictions(X, y, Y2, folds)
            self.validation_rmse_ = np.stack([rmse_per_target(Y2, p) for p in P])
            self.weights_ = self._choose(P, Y2)
        else:
            w = np.asarray(self.weights, dtype=np.float64)
            w = np.repeat(w.reshape(-1, 1), n_targets, axis=1) if w.ndim == 1 else w
            if w.shape != (n_members, n_targets) or (w < 0).any() or (w.sum(axis=0) <= 0).any():
                raise ValueError(
                    f"weights must be non-negative, one per member ({n_members}) or of shape "
                    f"({n_members}, {n_targets}) with a positive sum; got shape {w.shape}."
                )
            self.weights_ = w / w.sum(axis=0)
        # A member none of whose fold fits succeeded has nothing to average.
        self.estimators_ = [
            _FoldMean(fitted) if name not in refit and fitted else clone(est).fit(X, y)
            for (name, est), fitted in zip(self.estimators, folds)
        ]
        self.named_estimators_ = dict(zip(names, self.estimators_))
        return self

    def _validation_predictions(self, X, y, Y2, folds):
        n = Y2.shape[0]
        if isinstance(self.cv, Real) and not isinstance(self.cv, Integral):
            splits = ShuffleSplit(1, test_size=self.cv, random_state=self.random_state).split(
                np.arange(n))
        else:
            if n < self.cv:
                raise ValueError(
                    f"cv={self.cv} folds need at least {self.cv} samples, got {n} sample(s).")
            splits = KFold(self.cv, shuffle=True, random_state=self.random_state).split(
                np.arange(n))
        P = np.full((len(self.estimators),) + Y2.shape, np.nan)
        for train, test in splits:
            X_tr, y_tr, X_te = (_safe_indexing(X, train), _safe_indexing(y, train),
                                _safe_indexing(X, test))
            for i, (_, est) in enumerate(self.estimators):
                try:
                    fitted = clone(est).fit(X_tr, y_tr)
                    pred = np.asarray(fitted.predict(X_te), dtype=np.float64)
                except ValueError:
                    # Too few rows in a fold for this member's own inner CV
                    # (tiny local sets): it gets no weight, see _choose.
                    continue
                folds[i].append(fitted)
                P[i][test] = pred.reshape(len(test), -1)
        return P

    def _choose(self, P, Y2):
        n_members, n_targets = P.shape[0], Y2.shape[1]
        if self.weights == "best":
            grid = np.eye(n_members)
        else:
            steps = self.weight_steps
            grid = np.array([c for c in itertools.product(range(steps + 1), repeat=n_members)
                             if sum(c) == steps], dtype=np.float64) / steps
        W = np.zeros((n_members, n_targets))
        validated = ~np.isnan(P).all(axis=(0, 2))  # rows in a validation fold
        for j in range(n_targets):
            measured = ~np.isnan(Y2[:, j]) & validated
            # A member whose validation fits failed cannot be weighed.
            able = ~np.isnan(P[:, measured, j]).any(axis=1)
            usable = grid[(grid[:, ~able] == 0).all(axis=1)]
            if not measured.any() or not able.any() or len(usable) == 0:
                W[:, j] = 1.0 / n_members
                continue
            blend = usable @ np.nan_to_num(P[:, measured, j])  # (n_grid, n_measured)
            rmse = np.sqrt(np.mean((blend - Y2[measured, j]) ** 2, axis=1))
            W[:, j] = usable[int(np.argmin(rmse))]
        return W

    def predict(self, X):
        """Blended predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self, "estimators_")
        validate_data(self, X, reset=False, dtype=None, allow_nd=True, ensure_all_finite=False)
        P = [np.asarray(e.predict(X), dtype=np.float64) for e in self.estimators_]
        n = P[0].shape[0]
        P = np.stack([p.reshape(n, -1) for p in P])
        out = np.einsum("mnt,mt->nt", P, self.weights_)
        return out[:, 0] if self._y_is_1d else out

    def score(self, X, y, sample_weight=None):
        """Mean R2 over properties, ignoring NaN targets."""
        return nan_r2_score(y, self.predict(X), sample_weight=sample_weight)


class _FoldMean:
    """The mean prediction of one member's fold models (a cross-fitted member)."""

    def __init__(self, estimators):
        self.estimators_ = list(estimators)

    def predict(self, X):
        return np.mean([np.asarray(e.predict(X), dtype=np.float64) for e in self.estimators_],
                       axis=0)

    def __repr__(self):
        return f"cross-fitted({len(self.estimators_)} x {type(self.estimators_[0]).__name__})"
