"""TransferSelector (deprecated): transfer vs local vs source on one held-out split."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.model_selection import ShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.utils import deprecated
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._targets import nan_r2_score, rmse_per_target
from ._resolve import as_source

__all__ = ["TransferSelector"]


def _final_step(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _set_final(estimator, **params):
    if isinstance(estimator, Pipeline):
        name = estimator.steps[-1][0]
        params = {f"{name}__{k}": v for k, v in params.items()}
    return estimator.set_params(**params)


@deprecated(
    "TransferSelector is deprecated and will be removed in the next release: it compares "
    "only networks, by one mean R2 over all properties. Use "
    "sklearn_soilspec.ensemble.SelectorRegressor (per property, out-of-fold) or "
    "sklearn_soilspec.localised.LocalisedRegressor."
)
class TransferSelector(RegressorMixin, BaseEstimator):
    """Keep transfer learning only where it helps: transfer vs local vs source.

    .. deprecated::
        Use :class:`~sklearn_soilspec.ensemble.SelectorRegressor`, which
        chooses per property on out-of-fold predictions, or
        :class:`~sklearn_soilspec.localised.LocalisedRegressor`.

    Fits the transfer model (a warm-started ``SpectralCNNRegressor`` or a
    Pipeline ending in one) and a local-only model on part of the local data,
    optionally scores the source model as it is, and compares them on the
    held-out rest (mean R2 over properties). The winner is refitted on all
    the local data (the source model is only carried over).

    Parameters
    ----------
    transfer_estimator : estimator
        A ``SpectralCNNRegressor`` or Pipeline ending in one, usually with
        ``warm_start_from`` set.
    local_estimator : estimator or None, default=None
        The local-only competitor; by default the transfer estimator without
        ``warm_start_from`` and freezing, i.e. the same network trained from
        scratch on the local data.
    include_source : bool, default=True
        Also score the source model as it is (its weights, no training);
        skipped if it cannot predict every local property.
    validation_fraction : float, default=0.2
        Share of the local samples used to compare the candidates.
    refit : bool, default=True
        Refit the winner on all local samples.
    random_state : int, RandomState instance or None, default=None
        Seeds the comparison split.

    Attributes
    ----------
    selected_ : str
        "transfer", "local" or "source".
    scores_ : dict
        Held-out mean R2 of each candidate.
    selection_report_ : dict
        Scores, RMSE per property and candidate, split sizes and the reason.
    best_estimator_ : estimator
        The fitted winner, used by ``predict``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.transfer import TransferSelector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 16)); y = X[:, :4].sum(1)
    >>> tiny = dict(module_params={"channels": (4,), "shared_units": (8,), "head_units": 8},
    ...             max_epochs=2, random_state=0)
    >>> source = SpectralCNNRegressor(**tiny).fit(X, y)
    >>> guard = TransferSelector(SpectralCNNRegressor(warm_start_from=source, **tiny),
    ...                          random_state=0).fit(X, y)
    >>> sorted(guard.scores_)
    ['local', 'source', 'transfer']
    """

    _parameter_constraints = {
        "transfer_estimator": [HasMethods(["fit", "predict"])],
        "local_estimator": [HasMethods(["fit", "predict"]), None],
        "include_source": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "refit": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, transfer_estimator, local_estimator=None, include_source=True,
                 validation_fraction=0.2, refit=True, random_state=None):
        self.transfer_estimator = transfer_estimator
        self.local_estimator = local_estimator
        self.include_source = include_source
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # Small networks trained briefly on the common checks' toy data.
        tags.regressor_tags.poor_score = True
        return tags

    def _candidates(self, y_names):
        from ..neural import SpectralCNNRegressor

        transfer = clone(self.transfer_estimator)
        if not isinstance(_final_step(transfer), SpectralCNNRegressor):
            raise TypeError(
                "transfer_estimator must be a SpectralCNNRegressor or a Pipeline ending in "
                f"one, got {type(_final_step(transfer)).__name__}."
            )
        local = (
            clone(self.local_estimator)
            if self.local_estimator is not None
            else _set_final(clone(transfer), warm_start_from=None, freeze_layers=None,
                            unfreeze_after=None, reset_heads=False)
        )
        out, skipped = {"transfer": transfer, "local": local}, {}
        source_from = _final_step(transfer).warm_start_from
        if source_from is None:
            out.pop("transfer")
            skipped["transfer"] = "transfer_estimator has no warm_start_from"
        elif self.include_source:
            source = as_source(source_from)
            missing = [n for n in y_names if n not in source.target_names]
            if missing:
                skipped["source"] = f"the source model does not predict {missing}"
            else:
                # The source's weights through the local preprocessing, untrained.
                out["source"] = _set_final(clone(transfer), max_epochs=0, freeze_layers=None,
                                           unfreeze_after=None, reset_heads=False)
        return out, skipped

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the candidates, compare them on held-out local data, keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets); NaN allowed

        Returns
        -------
        self : TransferSelector
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        # Checked here for clear errors, but passed on as given: a Pipeline
        # candidate may need the DataFrame's wavelength column names.
        validate_data(self, X, reset=True, dtype=None, allow_nd=True, ensure_all_finite=False)
        names = list(y.columns) if hasattr(y, "columns") else None
        y_arr = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                            input_name="y")
        if names is None:
            names = _final_step(self.transfer_estimator).target_names or [
                f"target_{j}" for j in range(1 if y_arr.ndim == 1 else y_arr.shape[1])
            ]
        candidates, skipped = self._candidates([str(n) for n in names])
        n = len(y_arr)
        if n < 10:
            # Fewer than 10 samples leave one or two held-out rows: their R2 is
            # NaN or noise, and a "selection" on it would be a coin toss.
            raise ValueError(
                f"TransferSelector needs at least 10 samples to compare models, got {n} "
                "sample(s); use SelectorRegressor (out-of-fold) or LocalisedRegressor."
            )
        train, valid = next(ShuffleSplit(1, test_size=self.validation_fraction,
                                         random_state=self.random_state).split(np.arange(n)))
        take = (lambda a, rows: a.iloc[rows]) if hasattr(X, "iloc") else (
            lambda a, rows: np.asarray(a)[rows])
        ytake = (lambda rows: y.iloc[rows]) if hasattr(y, "iloc") else (lambda rows: y_arr[rows])
        scores, rmse = {}, {}
        for name, est in candidates.items():
            est.fit(take(X, train), ytake(train))
            pred = est.predict(take(X, valid))
            truth = y_arr[valid]
            scores[name] = nan_r2_score(truth, pred)
            rmse[name] = dict(zip(map(str, names), map(float, rmse_per_target(
                truth.reshape(len(valid), -1), np.asarray(pred).reshape(len(valid), -1)))))
        self.scores_ = scores
        self.selected_ = max(scores, key=lambda k: (np.nan_to_num(scores[k], nan=-np.inf)))
        winner = candidates[self.selected_]
        if self.refit:
            winner = clone(winner).fit(X, y)
        self.best_estimator_ = winner
        others = {k: v for k, v in scores.items() if k != self.selected_}
        self.selection_report_ = {
            "scores": scores,
            "rmse": rmse,
            "n_train": int(len(train)),
            "n_valid": int(len(valid)),
            "skipped": skipped,
            "reason": (
                f"{self.selected_!r} has the highest held-out mean R2 ({scores[self.selected_]:.3f}"
                + (", vs " + ", ".join(f"{k} {v:.3f}" for k, v in others.items()) if others else "")
                + ")"
            ),
        }
        return self

    def predict(self, X):
        """Predict with the selected model."""
        check_is_fitted(self, "best_estimator_")
        validate_data(self, X, reset=False, dtype=None, allow_nd=True, ensure_all_finite=False)
        return self.best_estimator_.predict(X)

    def score(self, X, y, sample_weight=None):
        """Mean R2 over properties, ignoring NaNs (see ``nan_r2_score``)."""
        return nan_r2_score(y, self.predict(X), sample_weight=sample_weight)
