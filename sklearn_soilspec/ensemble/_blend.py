"""Weighted blends of multi-output regressors, NaN targets allowed, weights by validation."""

import itertools
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseNamedEnsemble
from ._crossfit import fitted_member

__all__ = ["BlendRegressor"]


class BlendRegressor(_BaseNamedEnsemble):
    """Weighted average of several regressors, per soil property.

    :class:`sklearn.ensemble.VotingRegressor` takes one target and no missing
    values; soil libraries have several properties, each measured on some of
    the samples. This blend hands the whole ``Y`` (NaN where not measured) to
    every member and averages their predictions property by property, with
    fixed weights or with weights chosen on out-of-fold predictions. A
    transfer CNN blended with a local PLSR is then one estimator: in an
    experiment the CNN member is warm-started (the runner finds its
    ``<member>__..__warm_start_from``) while the PLSR member learns locally.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Members; each must accept NaN in ``y`` (the package's
        SpectralCNNRegressor, PLSRegressionCV, MemoryBasedRegressor do; wrap
        others in :class:`~sklearn_soilspec.experiments.PerTargetRegressor`).
    weights : array-like, "optimal", "best" or None, default=None
        None: equal weights. An array of one weight per member (or of shape
        ``(n_members, n_targets)``): fixed, normalised to sum to one.
        ``"optimal"``: per property, the weights on a grid of step
        ``1 / weight_steps`` with the lowest out-of-fold RMSE.
        ``"best"`` (deprecated, use :class:`SelectorRegressor`): per
        property, the member with the lowest out-of-fold RMSE.
    cv : int, float, cross-validation splitter or iterable, default=5
        How out-of-fold predictions are made for chosen weights: an int k
        gives shuffled k-fold, a float in (0, 1) one held-out share (cheaper
        for networks), a splitter (e.g. ``GroupKFold`` with ``groups``
        passed to ``fit``) or ``(train, test)`` pairs are used as given.
    weight_steps : int, default=10
        Grid resolution of ``"optimal"``.
    refit : bool or list of str, default=True
        With weights chosen from data, which members are refitted on all rows
        after the fold fits. The others are *cross-fitted*
        (:class:`CrossFittedRegressor`): they predict the mean of their fold
        models, the very models whose held-out predictions chose the
        weights. Weights validated on a network's fold runs then also hold
        for what predicts (a refit on all rows can go astray where the fold
        runs did not), and the fold models are an ensemble at no extra
        training cost. True: refit every member; False: refit none; a list:
        refit the members of those names (e.g. a PLSR, which gains from
        every row, beside a cross-fitted network).
    random_state : int, RandomState instance or None, default=0
        Seeds the shuffle of an int or float ``cv``.

    Attributes
    ----------
    estimators_ : list of fitted estimators
        One per member; a cross-fitted member is a
        :class:`CrossFittedRegressor` holding its fold models. A member
        without weight whose fit on all rows failed is None.
    named_estimators_ : dict of str -> fitted estimator
    weights_ : ndarray of shape (n_members, n_targets)
        Weights used per property (columns sum to one).
    validation_rmse_ : ndarray of shape (n_members, n_targets) or None
        Members' out-of-fold RMSE when weights were chosen from data (over
        the measured rows each member predicted; NaN if none).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    SelectorRegressor : per property, the one best member.
    SeedEnsembleRegressor : average over seeds.

    Notes
    -----
    A fold fit that fails (e.g. too few rows for a member's own inner
    cross-validation) gives a :class:`~sklearn.exceptions.FitFailedWarning`;
    a member without out-of-fold predictions on every measured row of a
    property gets no weight there, and if every member fails every fold,
    ``fit`` raises a ValueError naming them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.baselines import PLSRegressionCV
    >>> from sklearn_soilspec.ensemble import BlendRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8)); Y = np.c_[X[:, 0], X[:, 1] - X[:, 2]]
    >>> Y[::4, 1] = np.nan                       # not measured everywhere
    >>> blend = BlendRegressor([("pls3", PLSRegressionCV(max_components=3)),
    ...                         ("pls6", PLSRegressionCV(max_components=6))],
    ...                        weights="optimal", cv=3).fit(X, Y)
    >>> blend.predict(X[:2]).shape, blend.weights_.shape
    ((2, 2), (2, 2))
    >>> blend.weights_.sum(axis=0).tolist()
    [1.0, 1.0]
    """

    _parameter_constraints = {
        "estimators": [list],
        "weights": ["array-like", StrOptions({"optimal", "best"}), None],
        "cv": ["cv_object", Interval(Real, 0, 1, closed="neither")],
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

    def _uses_splitter(self):
        return isinstance(self.weights, str)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit every member (and choose weights on out-of-fold predictions if asked).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Passed on as given (a DataFrame keeps its wavelength names).
        y : array-like of shape (n_samples,) or (n_samples, n_targets); NaN allowed
        **fit_params : dict
            Metadata for the members' ``fit`` (e.g. ``groups``). With
            metadata routing enabled each member gets what it requests and a
            group splitter ``cv`` gets ``groups``; without, every member gets
            all of them.

        Returns
        -------
        self : BlendRegressor
        """
        names = self._validate_members()
        refit = self._refitted(names)
        from_data = isinstance(self.weights, str)
        if refit != set(names) and not from_data:
            raise ValueError(
                "refit other than True needs weights='best' or 'optimal' (or a "
                "SelectorRegressor): cross-fitted members are the models of the validation "
                "folds, which fixed weights do not train."
            )
        if self.weights == "best":
            warnings.warn(
                "BlendRegressor(weights='best') is deprecated and will be removed in a "
                "future release: use sklearn_soilspec.ensemble.SelectorRegressor, which "
                "picks the best member per property.",
                FutureWarning,
                stacklevel=2,
            )
        X = self._check_X(X, reset=True)
        Y, _, self._y_is_1d, y = self._check_y(y, X)
        params, groups = self._route(fit_params)
        n_members, n_targets = len(names), Y.shape[1]
        result, self.validation_rmse_ = None, None
        if self.weights is None:
            self.weights_ = np.full((n_members, n_targets), 1.0 / n_members)
        elif from_data:
            result = self._cross_fit(X, y, params, groups)
            self.validation_rmse_ = result.rmse(Y)
            self.weights_ = self._choose(result, Y)
        else:
            self.weights_ = self._fixed_weights(n_members, n_targets)
        self.estimators_ = [
            fitted_member(self, name, est, result.fold_models[name] if result else [],
                          refit, X, y, params[name], needed=bool((w > 0).any()))
            for (name, est), w in zip(self.estimators, self.weights_)
        ]
        self.named_estimators_ = dict(zip(names, self.estimators_))
        return self

    def _fixed_weights(self, n_members, n_targets):
        w = np.asarray(self.weights, dtype=np.float64)
        w = np.repeat(w.reshape(-1, 1), n_targets, axis=1) if w.ndim == 1 else w
        if w.shape != (n_members, n_targets) or (w < 0).any() or (w.sum(axis=0) <= 0).any():
            raise ValueError(
                f"weights must be non-negative, one per member ({n_members}) or of shape "
                f"({n_members}, {n_targets}) with a positive sum; got shape {w.shape}."
            )
        return w / w.sum(axis=0)

    def _grid(self, n_members):
        if self.weights == "best":
            return np.eye(n_members)
        steps = self.weight_steps
        return np.array([c for c in itertools.product(range(steps + 1), repeat=n_members)
                         if sum(c) == steps], dtype=np.float64) / steps

    def _choose(self, result, Y):
        P = result.predictions_
        n_members, n_targets = P.shape[0], Y.shape[1]
        grid = self._grid(n_members)
        fitted = np.array([bool(result.fold_models[n]) for n in result.names])
        W = np.zeros((n_members, n_targets))
        validated = result.validated
        for j in range(n_targets):
            measured = ~np.isnan(Y[:, j]) & validated
            # A member without a prediction for every measured held-out row
            # (a fold fit failed) cannot be weighed against the others.
            able = ~np.isnan(P[:, measured, j]).any(axis=1) & fitted
            usable = grid[(grid[:, ~able] == 0).all(axis=1)]
            if not measured.any() or len(usable) == 0:
                # Nothing to compare on: equal shares of the members that fit.
                W[:, j] = fitted / fitted.sum()
                continue
            blend = usable @ np.nan_to_num(P[:, measured, j])  # (n_grid, n_measured)
            rmse = np.sqrt(np.mean((blend - Y[measured, j]) ** 2, axis=1))
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
        X = self._check_X(X, reset=False)
        # Members without weight are not asked (a network's predict costs).
        used = [i for i, w in enumerate(self.weights_) if (w > 0).any()]
        P = [np.asarray(self.estimators_[i].predict(X), dtype=np.float64) for i in used]
        n = P[0].shape[0]
        P = np.stack([p.reshape(n, -1) for p in P])
        out = np.einsum("mnt,mt->nt", P, self.weights_[used])
        return out[:, 0] if self._y_is_1d else out
