"""Cross-fitted members: the mean of the fold models that were validated."""

import warnings
from numbers import Real

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseMemberEnsemble

__all__ = ["CrossFittedRegressor"]


class CrossFittedRegressor(_BaseMemberEnsemble):
    """The mean prediction of one model's cross-validation fold models.

    Each fold's model is trained without the fold's rows, so its held-out
    predictions (``oof_predictions_``) validate exactly the models that
    predict; averaged, the fold models are also an ensemble at no extra
    training cost. This is how :class:`BlendRegressor` and
    :class:`SelectorRegressor` keep a member they do not refit (their
    ``refit`` parameter); on its own it cross-fits one model.

    Parameters
    ----------
    estimator : estimator
        Any regressor or Pipeline; it gets ``y`` whole (NaN where not
        measured).
    cv : int, float, cross-validation splitter or iterable, default=5
        An int k: shuffled k-fold; a float in (0, 1): one held-out share
        (then a single model predicts); a splitter (e.g. ``GroupKFold``,
        which uses the ``groups`` passed to ``fit``) or ``(train, test)``
        pairs.
    random_state : int, RandomState instance or None, default=0
        Seeds the shuffle of an int or float ``cv``.

    Attributes
    ----------
    estimators_ : list of fitted estimators
        The successful fold models.
    oof_predictions_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Out-of-fold predictions; NaN for rows in no test fold or whose fold
        fit failed. Not set when made by a blend or selector.
    validation_rmse_ : ndarray of shape (n_targets,)
        Out-of-fold RMSE per property. Not set when made by a blend or
        selector (theirs holds it).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    cross_fit : the out-of-fold predictions of several members.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.ensemble import CrossFittedRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); y = X @ [1.0, 2.0, 0.0]
    >>> est = CrossFittedRegressor(Ridge(), cv=4).fit(X, y)
    >>> est
    CrossFittedRegressor(cv=4, estimator=Ridge())
    >>> len(est.estimators_), est.predict(X[:2]).shape
    (4, (2,))
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "cv": ["cv_object", Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, cv=5, random_state=0):
        self.estimator = estimator
        self.cv = cv
        self.random_state = random_state

    def _member_list(self):
        return [("estimator", self.estimator)]

    def _uses_splitter(self):
        return True

    @classmethod
    def _from_fold_models(cls, estimator, fold_models, *, cv, random_state, parent):
        """A fitted instance from fold models trained elsewhere (a blend's)."""
        est = cls(estimator=estimator, cv=cv, random_state=random_state)
        est.estimators_ = list(fold_models)
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(parent, attr):
                setattr(est, attr, getattr(parent, attr))
        return est

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit one clone of ``estimator`` per fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Passed on as given (a DataFrame keeps its wavelength names).
        y : array-like of shape (n_samples,) or (n_samples, n_targets); NaN allowed
        **fit_params : dict
            Metadata for the estimator's ``fit`` (e.g. ``groups``), indexed
            to each fold; with metadata routing enabled only what it
            requests, and ``groups`` also to a group splitter.

        Returns
        -------
        self : CrossFittedRegressor
        """
        X = self._check_X(X, reset=True)
        Y, _, is_1d, y = self._check_y(y, X)
        params, groups = self._route(fit_params)
        result = self._cross_fit(X, y, params, groups)
        self.estimators_ = result.fold_models["estimator"]
        oof = result.predictions_[0]
        self.oof_predictions_ = oof[:, 0] if is_1d else oof
        self.validation_rmse_ = result.rmse(Y)[0]
        return self

    def predict(self, X):
        """Mean prediction of the fold models.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self, "estimators_")
        X = self._check_X(X, reset=False)
        return np.mean([np.asarray(e.predict(X), dtype=np.float64) for e in self.estimators_],
                       axis=0)


def fitted_member(owner, name, est, folds, refit, X, y, params, needed=True):
    """A member as it predicts: refitted on all rows or cross-fitted.

    A member not in ``refit`` with fold models predicts their mean; any
    other is refitted. One not ``needed`` (no weight anywhere) whose refit
    fails is left out (None) with a warning.
    """
    if name not in refit and folds:
        return CrossFittedRegressor._from_fold_models(
            est, folds, cv=owner.cv, random_state=owner.random_state, parent=owner)
    try:
        return clone(est).fit(X, y, **params)
    except Exception as exc:  # noqa: BLE001 - only a member without weight is forgiven
        if needed:
            raise
        warnings.warn(
            f"Member {name!r}, which has no weight, failed to fit on all rows and is left "
            f"out: {type(exc).__name__}: {exc}",
            FitFailedWarning,
            stacklevel=3,
        )
        return None
