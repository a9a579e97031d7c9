"""The one mechanism of the ensembles: named members, cross-fitting, metadata routing.

Every meta-estimator of this package hands ``y`` whole to its members (NaN
where a property was not measured) and lets each member mask what it does
not know. Those that choose weights or members from data need out-of-fold
predictions; :func:`cross_fit` makes them, keeps the fold models (so that a
member can be *cross-fitted*: predict the mean of the very models that were
validated) and reports fold fits that failed the way scikit-learn's
``cross_validate(error_score=np.nan)`` does, with a
:class:`~sklearn.exceptions.FitFailedWarning`.
"""

import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn import get_config
from sklearn.base import RegressorMixin, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import KFold, ShuffleSplit, check_cv
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import _check_method_params, _num_samples, validate_data

from .._targets import MissingTargetsMixin, allows_missing_targets, check_targets

__all__ = ["CrossFitResult", "cross_fit"]


def check_cross_fit_cv(cv, random_state=None):
    """The splitter ``cv`` stands for.

    An int k gives shuffled k-fold (seeded by ``random_state``), a float in
    (0, 1) one shuffled held-out share, None five shuffled folds; a splitter
    or an iterable of ``(train, test)`` pairs is used as it is.
    """
    if cv is None:
        cv = 5
    if isinstance(cv, Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv={cv} folds: give at least 2 (or a share in (0, 1)).")
        return KFold(int(cv), shuffle=True, random_state=random_state)
    if isinstance(cv, Real) and not isinstance(cv, bool):
        if not 0 < cv < 1:
            raise ValueError(
                f"cv={cv}: a float is the held-out share and must lie in (0, 1)."
            )
        return ShuffleSplit(1, test_size=float(cv), random_state=random_state)
    return check_cv(cv)


@dataclass
class CrossFitResult:
    """Out-of-fold predictions and fold models of :func:`cross_fit`.

    Attributes
    ----------
    names : list of str
        Member names, in the order of ``predictions_``.
    predictions_ : ndarray of shape (n_members, n_samples, n_targets)
        Each row's prediction by the member's model of the fold that held it
        out (the mean where several folds did); NaN where that fold fit
        failed or the row was in no test fold.
    fold_models : dict of str -> list of fitted estimators
        The member's successful fold models, in fold order.
    failures : dict of str -> list of (int, str)
        Fold index and message of every failed fold fit.
    splits : list of (ndarray, ndarray)
        The ``(train, test)`` indices of the folds.
    target_names : list of str

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.ensemble import cross_fit
    >>> X = np.arange(20.0).reshape(10, 2); y = X[:, 0]
    >>> res = cross_fit([("ridge", Ridge())], X, y, cv=0.3, random_state=0)
    >>> int(res.validated.sum()), res.failed_members()
    (3, [])
    """

    names: list
    predictions_: np.ndarray
    fold_models: dict
    failures: dict
    splits: list = field(default_factory=list)
    target_names: list = field(default_factory=list)

    @property
    def validated(self):
        """Rows in at least one test fold, shape (n_samples,)."""
        held_out = np.zeros(self.predictions_.shape[1], dtype=bool)
        for _, test in self.splits:
            held_out[test] = True
        return held_out

    def failed_members(self):
        """Names of the members none of whose fold fits succeeded."""
        return [n for n in self.names if not self.fold_models[n]]

    def rmse(self, Y):
        """Out-of-fold RMSE of each member and property, shape (n_members, n_targets).

        Over the measured rows the member predicted; NaN where it predicted
        none of them.
        """
        Y = np.asarray(Y, dtype=np.float64).reshape(self.predictions_.shape[1], -1)
        P = self.predictions_
        ok = ~np.isnan(P) & ~np.isnan(Y)[None]
        err = np.where(ok, P - Y[None], 0.0)
        count = ok.sum(axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            out = np.sqrt((err**2).sum(axis=1) / np.maximum(count, 1))
        return np.where(count > 0, out, np.nan)


def _check_members(estimators):
    if not isinstance(estimators, (list, tuple)) or not estimators:
        raise ValueError("estimators is empty: give at least one (name, estimator) pair.")
    for item in estimators:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError(
                f"estimators must be (name, estimator) pairs with str names, got {item!r}."
            )
    names = [n for n, _ in estimators]
    if len(set(names)) != len(names):
        raise ValueError(f"Member names must be unique, got {names}.")
    for name, est in estimators:
        if not (hasattr(est, "fit") and hasattr(est, "predict")):
            raise TypeError(f"Member {name!r} ({type(est).__name__}) has no fit/predict.")
    return names


def _as_indexable(X):
    # A DataFrame stays one (Pipeline members may need its wavelength
    # names); lists become arrays so that _safe_indexing takes index arrays.
    return X if hasattr(X, "iloc") or hasattr(X, "shape") else np.asarray(X)


def cross_fit(estimators, X, y, cv, *, groups=None, random_state=None, fit_params=None):
    """Out-of-fold predictions of several members, NaN targets allowed.

    Each member is cloned and fitted on the training rows of every fold,
    with ``y`` whole (NaN where not measured) and ``X`` as given, and
    predicts the fold's held-out rows. A fold fit that raises is recorded,
    not raised: the member then has NaN for those rows, and one
    :class:`~sklearn.exceptions.FitFailedWarning` per failing member names
    it, the number of failed folds and the first error.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Unfitted members; they are cloned, never changed.
    X : array-like or DataFrame of shape (n_samples, ...)
        Indexed by rows only (a DataFrame keeps its column names).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        NaN marks a property that was not measured.
    cv : int, float, splitter or iterable
        An int k: shuffled k-fold; a float in (0, 1): one shuffled held-out
        share; a splitter (e.g. ``GroupKFold``) or an iterable of
        ``(train, test)`` index pairs: used as they are.
    groups : array-like of shape (n_samples,) or None, default=None
        Passed to the splitter's ``split`` (a group splitter uses them).
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffle of an int or float ``cv``.
    fit_params : dict of str -> dict or None, default=None
        Keyword arguments of each member's ``fit``, by member name; those
        with one entry per sample are indexed to the fold's training rows.

    Returns
    -------
    result : CrossFitResult

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.ensemble import cross_fit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 4)); y = X[:, 0]
    >>> res = cross_fit([("ridge", Ridge()), ("stiff", Ridge(alpha=100.0))], X, y, cv=3,
    ...                 random_state=0)
    >>> res.predictions_.shape, len(res.fold_models["ridge"])
    ((2, 30, 1), 3)
    >>> bool(res.rmse(y)[0, 0] < res.rmse(y)[1, 0])
    True
    """
    names = _check_members(estimators)
    X = _as_indexable(X)
    n = _num_samples(X)
    Y, target_names, is_1d = check_targets(y, n, "cross_fit")
    y = y if hasattr(y, "iloc") else (Y[:, 0] if is_1d else Y)
    fit_params = {} if fit_params is None else dict(fit_params)
    unknown = sorted(set(fit_params) - set(names))
    if unknown:
        raise ValueError(f"fit_params names unknown member(s) {unknown}; members: {names}.")
    splitter = check_cross_fit_cv(cv, random_state)
    if isinstance(splitter, KFold) and n < splitter.n_splits:
        raise ValueError(
            f"cv={splitter.n_splits} folds need at least {splitter.n_splits} samples, "
            f"got {n} sample(s)."
        )
    splits = [(np.asarray(tr), np.asarray(te))
              for tr, te in splitter.split(X, Y[:, 0] if is_1d else Y, groups)]
    if not splits:
        raise ValueError(f"cv={cv!r} gave no (train, test) split.")
    n_targets = Y.shape[1]
    total = np.zeros((len(names), n, n_targets))
    count = np.zeros((len(names), n, n_targets))
    fold_models = {name: [] for name in names}
    failures = {name: [] for name in names}
    for k, (train, test) in enumerate(splits):
        X_tr, y_tr = _safe_indexing(X, train), _safe_indexing(y, train)
        X_te = _safe_indexing(X, test)
        for i, (name, est) in enumerate(estimators):
            params = _check_method_params(X, fit_params.get(name, {}), indices=train)
            try:
                fitted = clone(est).fit(X_tr, y_tr, **params)
                pred = np.asarray(fitted.predict(X_te), dtype=np.float64)
                if pred.size != len(test) * n_targets:
                    raise ValueError(
                        f"predicted shape {pred.shape} for {len(test)} rows and "
                        f"{n_targets} target(s)."
                    )
            except Exception as exc:  # noqa: BLE001 - reported, as cross_validate does
                failures[name].append((k, f"{type(exc).__name__}: {exc}"))
                continue
            fold_models[name].append(fitted)
            total[i, test] += pred.reshape(len(test), n_targets)
            count[i, test] += 1
    for name in names:
        if failures[name]:
            fold, message = failures[name][0]
            warnings.warn(
                f"{len(failures[name])} of {len(splits)} fold fit(s) of member {name!r} "
                f"failed; the first (fold {fold}): {message}",
                FitFailedWarning,
                stacklevel=2,
            )
    with np.errstate(invalid="ignore"):
        predictions = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return CrossFitResult(names, predictions, fold_models, failures, splits, target_names)


def raise_if_all_failed(result, owner):
    """A clear ValueError when no member has a single successful fold fit."""
    failed = result.failed_members()
    if failed and len(failed) == len(result.names):
        first = next(result.failures[n][0][1] for n in result.names if result.failures[n])
        raise ValueError(
            f"{owner}: every member failed every fold fit ({failed}); the first error: {first}"
        )


class _BaseMemberEnsemble(MissingTargetsMixin, RegressorMixin, _BaseComposition):
    """Base of the meta-estimators over members that each get ``y`` whole.

    Subclasses list their members in :meth:`_member_list`. The base gives
    the NaN-target tag (true when every member takes NaN targets), the
    metadata router (each member's ``fit`` gets the metadata it requests;
    the cross-validation splitter its ``groups`` when :meth:`_uses_splitter`)
    and the checks of ``X`` that leave it as given for the members.
    """

    # Read by the experiment runner until it reads the target tag instead:
    # NaN-aware exactly when every member is.

    def _member_list(self):
        raise NotImplementedError

    def _uses_splitter(self):
        return False

    def _safe_members(self):
        try:
            return list(self._member_list())
        except (TypeError, ValueError, AttributeError):
            return []

    def _allows_missing_targets(self):
        members = self._safe_members()
        return bool(members) and all(allows_missing_targets(e) for _, e in members
                                     if hasattr(e, "fit"))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        members = [e for _, e in self._safe_members() if hasattr(e, "fit")]
        try:
            tags.input_tags.allow_nan = bool(members) and all(
                get_tags(e).input_tags.allow_nan for e in members)
        except (TypeError, AttributeError, ValueError):
            tags.input_tags.allow_nan = False
        return tags

    def get_metadata_routing(self):
        """How ``fit``'s metadata reach the members (and the splitter).

        Returns
        -------
        routing : MetadataRouter
            Each member's ``fit`` gets what it requests (e.g. after
            ``member.set_fit_request(groups=True)``); with weights or members
            chosen by cross-validation, the splitter's ``split`` gets
            ``groups`` if it is a group splitter.
        """
        router = MetadataRouter(owner=self)
        for name, est in self._member_list():
            router.add(**{name: est},
                       method_mapping=MethodMapping().add(caller="fit", callee="fit"))
        if self._uses_splitter():
            router.add(cv=check_cross_fit_cv(self.cv, self.random_state),
                       method_mapping=MethodMapping().add(caller="fit", callee="split"))
        return router

    def _route(self, fit_params):
        """Per-member fit parameters and the groups of the splitter."""
        names = [n for n, _ in self._member_list()]
        if get_config().get("enable_metadata_routing", False):
            routed = process_routing(self, "fit", **fit_params)
            per_member = {n: dict(routed[n].fit) for n in names}
            groups = routed["cv"].split.get("groups") if self._uses_splitter() else None
            return per_member, groups
        # Without routing every member gets every parameter, as before
        # routing existed; groups also define a group splitter's folds.
        return {n: dict(fit_params) for n in names}, fit_params.get("groups")

    def _cross_fit(self, X, y, params, groups):
        """Out-of-fold predictions of the members on ``self.cv``.

        For the ensembles with ``cv`` and ``random_state``: a ValueError
        naming the ensemble when every fold fit of every member failed.
        """
        result = cross_fit(self._member_list(), X, y, self.cv, groups=groups,
                           random_state=self.random_state, fit_params=params)
        raise_if_all_failed(result, type(self).__name__)
        return result

    def _check_X(self, X, reset):
        # Checked for clear errors (sparse, wrong shapes, feature names) but
        # handed on as given: a Pipeline member may need a DataFrame's
        # wavelength column names. Numeric and finite (NaN only where every
        # member takes it): bad input fails here, clearly, not as a failed
        # fit of every member in every fold.
        allow_nan = self.__sklearn_tags__().input_tags.allow_nan
        Xv = validate_data(self, X, reset=reset, dtype="numeric", allow_nd=True,
                           ensure_all_finite="allow-nan" if allow_nan else True)
        return X if hasattr(X, "iloc") else Xv

    def _check_y(self, y, X):
        """``(Y2d, names, is_1d, y_for_members)``; a DataFrame ``y`` stays one."""
        Y, names, is_1d = check_targets(y, _num_samples(X), type(self).__name__)
        return Y, names, is_1d, (y if hasattr(y, "iloc") else (Y[:, 0] if is_1d else Y))


class _BaseNamedEnsemble(_BaseMemberEnsemble):
    """Members given as ``estimators=[(name, estimator), ...]``."""

    def _member_list(self):
        return list(self.estimators)

    def get_params(self, deep=True):
        """Parameters, with each member's under its name (``<name>__<param>``).

        Parameters
        ----------
        deep : bool, default=True

        Returns
        -------
        params : dict
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters, a member by its name or its own by ``<name>__<param>``.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : estimator
        """
        self._set_params("estimators", **params)
        return self

    def _validate_members(self):
        names = _check_members(self.estimators)
        self._validate_names(names)
        return names

    def _refitted(self, names):
        if self.refit is True or self.refit is False:
            return set(names) if self.refit else set()
        unknown = sorted(set(self.refit) - set(names))
        if unknown:
            raise ValueError(f"refit names unknown member(s) {unknown}; members: {names}.")
        return set(self.refit)
