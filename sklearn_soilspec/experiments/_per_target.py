"""One model per soil property, each fitted on the samples where it was measured."""

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.validation import check_is_fitted, validate_data

from .._targets import MissingTargetsMixin

__all__ = ["PerTargetRegressor"]


class PerTargetRegressor(MissingTargetsMixin, RegressorMixin, BaseEstimator):
    """Fit a clone of ``estimator`` per target on the rows where it is observed.

    Spectral libraries rarely measure every property on every sample, and
    most regressors (PLSR, random forests, ...) refuse NaN in ``y``. This
    wrapper fits one clone per column of ``y`` on the rows where that column
    is observed, which is also how PLSR calibrations are usually built (one
    PLS1 model per property). :class:`LocalisationExperiment` wraps every
    model that is not tagged to handle missing targets in it; the wrapper
    itself is tagged ``target_tags.allow_nan`` and routes metadata (such as
    ``groups``) to the clones when routing is enabled.

    Parameters
    ----------
    estimator : estimator object
        Regressor cloned for each target.

    Attributes
    ----------
    estimators_ : list of estimator
        One fitted clone per target.
    n_targets_ : int
        Number of targets seen in ``fit``.
    n_features_in_ : int
        Number of spectral columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names seen in ``fit`` (when ``X`` was a DataFrame); they are
        passed on to every clone, so wavelength-aware steps find their axis.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn_soilspec.experiments import PerTargetRegressor
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> Y = np.array([[0.0, 1.0], [2.0, np.nan], [4.0, 5.0], [6.0, 7.0]])
    >>> reg = PerTargetRegressor(LinearRegression()).fit(X, Y)
    >>> reg.predict(X[:1]).round(6).tolist()
    [[0.0, 1.0]]
    """

    _parameter_constraints = {"estimator": [HasMethods(["fit", "predict"])]}

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        """Fit one clone per target on its observed rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            NaN marks a property that was not measured.
        **fit_params : dict
            Passed to every clone's ``fit`` (with metadata routing enabled:
            what ``estimator`` requests); arrays with one value per sample
            (``groups``, ``sample_weight``) are subset to the same rows.

        Returns
        -------
        self : PerTargetRegressor
        """
        self._validate_params()
        # X is checked but handed on untouched, so that a DataFrame keeps its
        # wavelength column names for the wrapped pipeline; NaN in X is left
        # for the wrapped estimator to accept or refuse.
        validate_data(self, X, ensure_all_finite=False, reset=True)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got {Y.ndim} dimensions.")
        self._y_1d = Y.ndim == 1
        Y = Y.reshape(Y.shape[0], -1)
        if Y.shape[0] != _n_rows(X):
            raise ValueError(f"X has {_n_rows(X)} rows but y has {Y.shape[0]}.")
        if np.isinf(Y).any():
            raise ValueError("y contains infinite values; use NaN for properties not measured.")
        if get_config()["enable_metadata_routing"]:
            fit_params = process_routing(self, "fit", **fit_params).estimator.fit
        self.n_targets_ = Y.shape[1]
        self.estimators_ = []
        for j in range(self.n_targets_):
            rows = np.flatnonzero(~np.isnan(Y[:, j]))
            if rows.size == 0:
                raise ValueError(f"Target {j} has no observed value: nothing to fit it on.")
            params = {k: _take_rows(v, rows, Y.shape[0]) for k, v in fit_params.items()}
            est = clone(self.estimator).fit(_take_rows(X, rows, Y.shape[0]), Y[rows, j], **params)
            self.estimators_.append(est)
        return self

    def predict(self, X):
        """Predict every target.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            1-D when ``y`` was 1-D in ``fit``.
        """
        check_is_fitted(self)
        validate_data(self, X, ensure_all_finite=False, reset=False)
        pred = np.column_stack(
            [np.asarray(est.predict(X), dtype=np.float64).ravel() for est in self.estimators_]
        )
        return pred.ravel() if self._y_1d else pred

    def get_metadata_routing(self):
        """Metadata routing: ``fit`` hands on what ``estimator.fit`` requests.

        Returns
        -------
        routing : MetadataRouter
        """
        return MetadataRouter(owner=self).add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = get_tags(self.estimator).input_tags.allow_nan
        return tags


def _n_rows(a):
    return a.shape[0] if hasattr(a, "shape") else np.asarray(a).shape[0]


def _take_rows(a, rows, n):
    """``a[rows]`` for anything with one entry per sample, else ``a`` itself."""
    if hasattr(a, "iloc"):
        return a.iloc[rows]
    if isinstance(a, (str, bytes)) or not hasattr(a, "__array__") and not hasattr(a, "__len__"):
        return a
    arr = np.asarray(a)
    return arr[rows] if arr.ndim >= 1 and arr.shape[0] == n else a
