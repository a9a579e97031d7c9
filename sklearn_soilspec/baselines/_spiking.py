"""Spiking: a global model fitted on the library plus up-weighted local rows."""

import warnings
from numbers import Real

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, _fit_context, clone
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metadata_routing import get_routing_for_object
from sklearn.utils.validation import (
    _num_samples,
    check_array,
    check_consistent_length,
    check_is_fitted,
    has_fit_parameter,
    validate_data,
)

from .._targets import MissingTargetsMixin, allows_missing_targets
from ._validation import local_rows

__all__ = ["SpikedRegressor"]


class SpikedRegressor(MissingTargetsMixin, MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """Fit a model on a global library spiked with up-weighted local samples.

    Spiking (e.g. Guerrero et al., 2010) adds a few samples of the target site
    to a large global library and gives them extra weight, so that a single
    global model learns the local soils. The local rows get weight
    ``spike_weight`` and the global rows weight 1: through ``sample_weight``
    when the estimator's ``fit`` accepts it, otherwise by repeating every local
    row ``round(spike_weight)`` times (``PLSRegression`` and
    :class:`PLSRegressionCV` take no sample weights).

    Parameters
    ----------
    estimator : regressor
        The model to fit, e.g. :class:`PLSRegressionCV`, a ``Pipeline`` or
        ``cubist.Cubist``. It is cloned.
    spike_weight : float >= 1 or "balanced", default=5.0
        Weight of a local row relative to a global one. ``"balanced"`` gives
        the local rows together as much weight as the global rows
        (``n_global / n_local``, at least 1). When rows are repeated the weight
        is rounded to a whole number of copies; a warning says so.
    local_domain : object or list, default=None
        Value(s) of ``groups`` that mark the local rows.

    Attributes
    ----------
    estimator_ : regressor
        The fitted clone of ``estimator``.
    spike_weight_ : float
        Weight actually given to each local row (after ``"balanced"`` and
        rounding).
    spike_method_ : {"sample_weight", "repeat", "none"}
        How it was given; ``"none"`` when no row was marked local.
    n_local_ : int
        Number of local rows.
    n_features_in_ : int

    See Also
    --------
    PLSRegressionCV : PLSR with the number of components cross-validated.
    MemoryBasedRegressor : Local models instead of one spiked model.

    Notes
    -----
    When rows are repeated and the estimator's ``fit`` takes ``groups`` (as
    :class:`PLSRegressionCV` does, also as the last step of a Pipeline, whose
    step requests them), every row's index is passed as its group,
    so an inner cross-validation keeps all copies of a local row in the same
    fold; without this, copies of a row would be both fitted and validated on,
    and too many components would look best.

    Without any row marked local (no ``local_domain``/``is_local``), this is
    the plain estimator.

    References
    ----------
    Guerrero, C., Zornoza, R., Gomez, I., Mataix-Beneyto, J., 2010. Spiking
    of NIR regional models using samples from target sites: effect of model
    size on prediction accuracy. Geoderma 158, 66-77.

    Examples
    --------
    Evaluate spiking on a local site: every test fold holds local rows only,
    and every training set holds the whole global library plus the other
    local rows.

    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.model_selection import KFold, cross_val_score
    >>> from sklearn_soilspec.baselines import SpikedRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 10))
    >>> groups = np.array(["global"] * 100 + ["site"] * 20)
    >>> y = X[:, 0] + (groups == "site") * 2.0 * X[:, 1]
    >>> glob, loc = np.flatnonzero(groups == "global"), np.flatnonzero(groups == "site")
    >>> cv = [(np.r_[glob, loc[tr]], loc[te])
    ...       for tr, te in KFold(5, shuffle=True, random_state=0).split(loc)]
    >>> spiked = SpikedRegressor(Ridge(), spike_weight=5, local_domain="site")
    >>> scores = cross_val_score(spiked, X, y, cv=cv, params={"groups": groups},
    ...                          scoring="neg_root_mean_squared_error")
    >>> scores.shape
    (5,)

    With metadata routing enabled (``sklearn.set_config(
    enable_metadata_routing=True)``), ``groups`` is requested by ``fit`` by
    default, so the same call works unchanged.
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "spike_weight": [Interval(Real, 1, None, closed="left"), StrOptions({"balanced"})],
        "local_domain": "no_validation",
    }
    # Under metadata routing, ``groups`` carries the domain of every row and
    # is what this estimator is for: request it unless the user says no.
    __metadata_request__fit = {"groups": True, "is_local": True}

    def __init__(self, estimator, *, spike_weight=5.0, local_domain=None):
        self.estimator = estimator
        self.spike_weight = spike_weight
        self.local_domain = local_domain

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None, is_local=None):
        """Fit the estimator on all rows with the local rows up-weighted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Global and local spectra together.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        groups : array-like of shape (n_samples,), default=None
            Domain of every row; rows equal to ``local_domain`` are local.
        is_local : array-like of bool of shape (n_samples,), default=None
            Marks the local rows directly (wins over ``groups``).

        Returns
        -------
        self : SpikedRegressor
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        validate_data(self, X, skip_check_array=True)
        # Repeating rows indexes y by X's rows: a y of another length must be
        # named here, not fail as an IndexError inside the indexing.
        check_consistent_length(X, y)
        n = _num_samples(X)
        local = local_rows(n, groups, is_local, self.local_domain)
        self.estimator_ = clone(self.estimator)
        self.n_local_ = 0 if local is None else int(local.sum())
        if not self.n_local_:
            self.spike_weight_, self.spike_method_ = 1.0, "none"
            self.estimator_.fit(X, y)
            return self

        if self.spike_weight == "balanced":
            weight = max(1.0, (n - self.n_local_) / self.n_local_)
        else:
            weight = float(self.spike_weight)

        if has_fit_parameter(self.estimator_, "sample_weight"):
            self.spike_weight_, self.spike_method_ = weight, "sample_weight"
            self.estimator_.fit(X, y, sample_weight=np.where(local, weight, 1.0))
            return self

        copies = max(1, int(round(weight)))
        if copies != weight:
            warnings.warn(
                f"{type(self.estimator_).__name__}.fit takes no sample_weight, so local "
                f"rows are repeated: spike_weight={weight:g} is rounded to {copies} copies.",
                UserWarning,
            )
        self.spike_weight_, self.spike_method_ = float(copies), "repeat"
        rows = np.concatenate([np.arange(n), np.repeat(np.flatnonzero(local), copies - 1)])
        Xr, yr = _safe_indexing(X, rows), _safe_indexing(y, rows)
        if "groups" in get_routing_for_object(self.estimator_).consumes("fit", ["groups"]):
            # A Pipeline (or other router) whose step requests groups, e.g. a
            # PLSRegressionCV after preprocessing: routing delivers them.
            with config_context(enable_metadata_routing=True):
                self.estimator_.fit(Xr, yr, groups=rows)
        elif has_fit_parameter(self.estimator_, "groups"):
            self.estimator_.fit(Xr, yr, groups=rows)
        else:
            self.estimator_.fit(Xr, yr)
        return self

    def predict(self, X):
        """Predict with the spiked model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)

        Returns
        -------
        y_pred : ndarray
        """
        check_is_fitted(self)
        if len(getattr(X, "shape", (0, 0))) != 2:
            # The estimator may take data frames as they are; only the shape is
            # checked here, so that a single spectrum gets the usual message.
            check_array(X, ensure_all_finite=False, accept_sparse=True, dtype=None)
        validate_data(self, X, skip_check_array=True, reset=False)
        return self.estimator_.predict(X)

    def _allows_missing_targets(self):
        # Spiking only reweights rows: NaN targets are fine when the wrapped
        # model accepts them.
        return allows_missing_targets(self.estimator)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.target_tags.multi_output = inner.target_tags.multi_output
        tags.target_tags.single_output = inner.target_tags.single_output
        return tags

