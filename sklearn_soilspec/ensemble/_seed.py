"""Seed ensembles: the same model trained with several seeds, averaged, with a spread."""

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import _num_samples, check_is_fitted

from .._targets import check_targets
from ._base import _BaseMemberEnsemble

__all__ = ["SeedEnsembleRegressor"]


def _with_seed(est, seed):
    """``est`` with every nested ``random_state`` set to ``seed``."""
    keys = [k for k in est.get_params(deep=True)
            if k == "random_state" or k.endswith("__random_state")]
    return est.set_params(**{k: seed for k in keys}) if keys else est


class SeedEnsembleRegressor(_BaseMemberEnsemble):
    """Average of one model trained with several random seeds.

    A small network fine-tuned on a few dozen local samples depends on its
    initialisation, shuffling and dropout; averaging a few seeds removes much
    of that variance (and every member of a warm-started model starts from
    the same source, which clones keep). The spread of the members is a
    cheap uncertainty estimate: ``predict(X, return_std=True)``.

    Parameters
    ----------
    estimator : estimator
        Any regressor or Pipeline; every nested ``random_state`` parameter is
        set to a member's seed. It gets ``y`` whole, so NaN targets are fine
        when it takes them.
    n_estimators : int, default=5
    random_state : int, RandomState instance or None, default=0
        Draws the members' seeds.

    Attributes
    ----------
    estimators_ : list of fitted estimators
    seeds_ : list of int
    n_features_in_ : int
        The first member's, when it has one.
    feature_names_in_ : ndarray of str
        The first member's, when it has them.

    See Also
    --------
    BlendRegressor : weighted average of different models.
    sklearn_soilspec.neural.SpectralCNNRegressor.predict_dropout : MC-dropout spread.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import SGDRegressor
    >>> from sklearn_soilspec.ensemble import SeedEnsembleRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 5)); y = X @ [1.0, 2.0, 0.0, 0.0, 1.0]
    >>> ens = SeedEnsembleRegressor(SGDRegressor(max_iter=50), n_estimators=3).fit(X, y)
    >>> mean, std = ens.predict(X[:2], return_std=True)
    >>> mean.shape, std.shape
    ((2,), (2,))
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, n_estimators=5, random_state=0):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _member_list(self):
        return [("estimator", self.estimator)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The members do all the work, input checks included: their tags hold.
        inner = get_tags(self.estimator)
        tags.target_tags.multi_output = inner.target_tags.multi_output
        tags.target_tags.single_output = inner.target_tags.single_output
        tags.regressor_tags = inner.regressor_tags
        tags.input_tags = inner.input_tags
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit ``n_estimators`` clones, each with its own seed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets); NaN allowed
        **fit_params : dict
            Passed to every member's ``fit`` (e.g. ``groups``); with metadata
            routing enabled, only what the estimator requests.

        Returns
        -------
        self : SeedEnsembleRegressor
        """
        check_targets(y, _num_samples(X), type(self).__name__)
        params = self._route(fit_params)[0]["estimator"]
        rs = check_random_state(self.random_state)
        self.seeds_ = [int(s) for s in rs.randint(np.iinfo(np.int32).max, size=self.n_estimators)]
        self.estimators_ = [
            _with_seed(clone(self.estimator), s).fit(X, y, **params) for s in self.seeds_
        ]
        first = self.estimators_[0]
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(first, attr):
                setattr(self, attr, getattr(first, attr))
        return self

    def predict(self, X, return_std=False):
        """Mean prediction of the members (and their SD).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the SD over members (zero for one member).

        Returns
        -------
        mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
        std : ndarray of the same shape, only with ``return_std=True``
        """
        check_is_fitted(self, "estimators_")
        draws = np.stack([np.asarray(e.predict(X), dtype=np.float64) for e in self.estimators_])
        mean = draws.mean(axis=0)
        if not return_std:
            return mean
        return mean, draws.std(axis=0, ddof=1) if len(draws) > 1 else np.zeros_like(mean)
