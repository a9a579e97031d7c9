"""Model selection per soil property: the member with the lowest out-of-fold RMSE."""

import warnings
from numbers import Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseNamedEnsemble
from ._crossfit import fitted_member

__all__ = ["SelectorRegressor"]


class SelectorRegressor(_BaseNamedEnsemble):
    """Per soil property, the member with the lowest out-of-fold RMSE.

    Whether transfer learning helps, which preprocessing suits a property,
    whether a network beats PLSR on a few dozen local samples: the answer
    differs between properties. The selector cross-fits every member on the
    whole ``Y`` (NaN where not measured), compares their out-of-fold RMSE
    property by property and predicts each property with its winner. Ties
    go to the earlier member, so list the simplest first (e.g. the local
    PLSR before the transfer network).

    Parameters
    ----------
    estimators : list of (str, estimator)
        Candidates; each must accept NaN in ``y`` (or be wrapped in
        :class:`~sklearn_soilspec.experiments.PerTargetRegressor`).
    cv : int, float, cross-validation splitter or iterable, default=5
        How out-of-fold predictions are made: an int k gives shuffled
        k-fold, a float in (0, 1) one held-out share (cheaper for
        networks), a splitter (e.g. ``GroupKFold`` with ``groups`` passed
        to ``fit``) or ``(train, test)`` pairs are used as given.
    refit : bool or list of str, default=True
        Which selected members are refitted on all rows; the others are
        cross-fitted (:class:`CrossFittedRegressor`, the mean of the fold
        models that won the comparison). True: all; False: none; a list:
        those names.
    random_state : int, RandomState instance or None, default=0
        Seeds the shuffle of an int or float ``cv``.

    Attributes
    ----------
    selected_ : dict of str -> str
        Per property (the columns of a DataFrame ``y``, else ``target_0``,
        ...), the name of the member that predicts it.
    validation_rmse_ : ndarray of shape (n_members, n_targets)
        Members' out-of-fold RMSE over the measured rows each predicted
        (NaN if none).
    selection_report_ : dict of str -> dict
        Per property: ``"rmse"`` (member name -> out-of-fold RMSE on the
        rows every fitted member predicted, the ones compared),
        ``"selected"`` and ``"n_validated"`` (those rows' count).
    estimators_ : list of fitted estimators or None
        One per member; None for a member selected for no property (it is
        not refitted).
    named_estimators_ : dict of str -> fitted estimator or None
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    BlendRegressor : weighted averages instead of one member per property.

    Notes
    -----
    As a guard against negative transfer, list the local model, the
    warm-started network and the source as it is (the same network with
    ``max_epochs=0``): each property keeps transfer only where its
    out-of-fold RMSE says it helps, instead of one choice by the mean over
    all properties on a single split.

    A property with fewer than 2 compared rows (tiny data, a held-out share
    without measurements) gets the first member that fitted, with a
    warning. Failed fold fits warn (:class:`~sklearn.exceptions.FitFailedWarning`);
    a member with failed folds is compared only if its failures left no
    measured row of the property without prediction.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.ensemble import SelectorRegressor
    >>> from sklearn_soilspec.experiments import PerTargetRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)); Y = np.c_[X[:, 0], X[:, 1]]
    >>> Y[::3, 1] = np.nan                       # not measured everywhere
    >>> sel = SelectorRegressor([("stiff", PerTargetRegressor(Ridge(alpha=1e4))),
    ...                          ("ridge", PerTargetRegressor(Ridge(alpha=1e-2)))],
    ...                         cv=3).fit(X, Y)
    >>> sel.selected_
    {'target_0': 'ridge', 'target_1': 'ridge'}
    >>> sel.predict(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        "estimators": [list],
        "cv": ["cv_object", Interval(Real, 0, 1, closed="neither")],
        "refit": ["boolean", list],
        "random_state": ["random_state"],
    }

    def __init__(self, estimators, cv=5, refit=True, random_state=0):
        self.estimators = estimators
        self.cv = cv
        self.refit = refit
        self.random_state = random_state

    def _uses_splitter(self):
        return True

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Cross-fit every member, select one per property, refit the selected.

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
        self : SelectorRegressor
        """
        names = self._validate_members()
        refit = self._refitted(names)
        X = self._check_X(X, reset=True)
        Y, target_names, self._y_is_1d, y = self._check_y(y, X)
        params, groups = self._route(fit_params)
        result = self._cross_fit(X, y, params, groups)
        self.validation_rmse_ = result.rmse(Y)
        self._selected_index = np.empty(Y.shape[1], dtype=int)
        self.selected_, self.selection_report_ = {}, {}
        for j, prop in enumerate(target_names):
            index, report = self._select(result, Y[:, j], j, prop)
            self._selected_index[j] = index
            self.selected_[prop] = names[index]
            self.selection_report_[prop] = report
        chosen = set(self._selected_index.tolist())
        self.estimators_ = [
            fitted_member(self, name, est, result.fold_models[name], refit, X, y, params[name])
            if i in chosen else None
            for i, (name, est) in enumerate(self.estimators)
        ]
        self.named_estimators_ = dict(zip(names, self.estimators_))
        return self

    def _select(self, result, y_j, j, prop):
        P = result.predictions_[:, :, j]
        fitted = np.array([bool(result.fold_models[n]) for n in result.names])
        measured = ~np.isnan(y_j) & result.validated
        # Compared on the same rows: those every fitted member predicted,
        # after dropping members whose failed folds left measured rows out.
        able = fitted & ~np.isnan(P[:, measured]).any(axis=1)
        if not able.any():
            able = fitted
        rows = measured & ~np.isnan(P[able]).any(axis=0)
        n_rows = int(rows.sum())
        rmse = np.full(len(result.names), np.nan)
        if n_rows:
            rmse[able] = np.sqrt(np.mean((P[able][:, rows] - y_j[rows]) ** 2, axis=1))
        if n_rows < 2:
            index = int(np.flatnonzero(fitted)[0])
            warnings.warn(
                f"Property {prop!r} has {n_rows} out-of-fold row(s) to compare the members "
                f"on (need 2): it gets the first member that fitted, "
                f"{result.names[index]!r}. Use more rows or a larger cv share.",
                UserWarning,
                stacklevel=3,
            )
        else:
            # The earliest of the lowest: ties go to the simpler member.
            index = int(np.flatnonzero(rmse == np.nanmin(rmse))[0])
        return index, {
            "rmse": {n: float(r) for n, r in zip(result.names, rmse)},
            "selected": result.names[index],
            "n_validated": n_rows,
        }

    def predict(self, X):
        """Each property predicted by its selected member.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self, "estimators_")
        X = self._check_X(X, reset=False)
        out = None
        for i in sorted(set(self._selected_index.tolist())):
            pred = np.asarray(self.estimators_[i].predict(X), dtype=np.float64)
            pred = pred.reshape(pred.shape[0], -1)
            if out is None:
                out = np.empty((pred.shape[0], len(self._selected_index)))
            cols = self._selected_index == i
            out[:, cols] = pred[:, cols]
        return out[:, 0] if self._y_is_1d else out
