"""Soil properties with gaps: validation, metrics and the tag that says an estimator takes them.

Spectral libraries rarely measure every property on every sample, so ``y``
holds NaN where a property was not measured. This module is the one place
that knows what that means: how such a ``y`` is checked
(:func:`check_targets`), how it is scored (:func:`rmse_per_target`,
:func:`nan_r2_score`), and how an estimator declares that it accepts it
(the ``target_tags.allow_nan`` tag of :class:`MissingTargetsMixin`, read by
:func:`allows_missing_targets`). It imports neither torch nor skorch.
"""

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils import TargetTags, check_array, get_tags

__all__ = [
    "MissingTargetsMixin",
    "SoilTargetTags",
    "allows_missing_targets",
    "check_targets",
    "nan_r2_score",
    "rmse_per_target",
    "target_names_of",
]


@dataclass(slots=True)
class SoilTargetTags(TargetTags):
    """scikit-learn's target tags plus ``allow_nan``: NaN in ``y`` means "not measured".

    Parameters
    ----------
    allow_nan : bool, default=False
        The estimator fits on a ``y`` with NaN entries, using for each
        property only the rows where it was measured (and predicts every
        property for every row).
    """

    allow_nan: bool = False


def _with_allow_nan(target_tags, allow_nan):
    fields = asdict(target_tags) if not isinstance(target_tags, SoilTargetTags) else {
        k: getattr(target_tags, k) for k in TargetTags.__dataclass_fields__
    }
    fields.pop("allow_nan", None)
    return SoilTargetTags(**fields, allow_nan=bool(allow_nan))


def allows_missing_targets(estimator):
    """Whether ``estimator`` (or the last step of a Pipeline) accepts NaN targets.

    Reads the ``target_tags.allow_nan`` tag; a Pipeline is judged by its
    final step, since only that step sees ``y``.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.baselines import PLSRegressionCV
    >>> allows_missing_targets(PLSRegressionCV()), allows_missing_targets(Ridge())
    (True, False)
    """
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    try:
        tags = get_tags(estimator)
    except (TypeError, AttributeError, ValueError):
        return False
    return bool(getattr(tags.target_tags, "allow_nan", False))


class MissingTargetsMixin:
    """Tags and ``score`` of an estimator that fits on properties with gaps.

    Put it before :class:`~sklearn.base.RegressorMixin`. The estimator is
    tagged multi-output and single-output and ``target_tags.allow_nan``;
    ``score`` is the mean R2 over properties, each over its measured rows.
    A meta-estimator that hands ``y`` whole to the models it wraps overrides
    :meth:`_allows_missing_targets` to ask them.
    """

    def _allows_missing_targets(self):
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags = _with_allow_nan(tags.target_tags, self._allows_missing_targets())
        return tags

    def score(self, X, y, sample_weight=None):
        """Mean coefficient of determination R2 over properties, ignoring NaN targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            True values; NaN entries are left out of their property's R2.
        sample_weight : array-like of shape (n_samples,) or None

        Returns
        -------
        score : float
        """
        return nan_r2_score(y, self.predict(X), sample_weight=sample_weight)


def target_names_of(y):
    """Column names of a DataFrame ``y`` or the name of a Series, else None."""
    if hasattr(y, "columns"):
        return [str(c) for c in y.columns]
    if getattr(y, "ndim", 2) == 1 and getattr(y, "name", None) is not None:
        return [str(y.name)]
    return None


def check_targets(y, n_samples, estimator_name, target_names=None):
    """Validate ``y`` allowing NaN (not measured), never inf.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    n_samples : int
        Rows of ``X``.
    estimator_name : str
        Named in the error messages.
    target_names : list of str or None, default=None
        Names given by the user; they must agree with a DataFrame's columns.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_targets), float64
    names : list of str
        The DataFrame's columns, ``target_names``, or ``target_0``, ...
    is_1d : bool
        Whether ``y`` was one-dimensional, so that predictions keep its shape.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None."
        )
    names = target_names_of(y)
    Y = check_array(
        y, ensure_2d=False, ensure_all_finite="allow-nan", dtype=np.float64, input_name="y"
    )
    if Y.ndim > 2:
        raise ValueError(f"y must be 1-D or 2-D, got an array with shape {Y.shape}.")
    is_1d = Y.ndim == 1
    if is_1d:
        Y = Y[:, None]
    if Y.shape[0] != n_samples:
        raise ValueError(
            f"X has {n_samples} samples but y has {Y.shape[0]}: one row per sample."
        )
    if np.isinf(Y).any():
        raise ValueError("y contains infinity; NaN marks a property that was not measured.")
    if target_names is not None:
        given = [str(n) for n in target_names]
        if names is not None and names != given:
            raise ValueError(
                f"target_names={given} disagree with the columns of y {names}."
            )
        names = given
    if names is None:
        names = [f"target_{j}" for j in range(Y.shape[1])]
    if len(names) != Y.shape[1] or len(set(names)) != len(names):
        raise ValueError(f"Need {Y.shape[1]} distinct target names, got {names}.")
    never = [n for n, col in zip(names, Y.T) if np.isnan(col).all()]
    if never:
        raise ValueError(
            f"Target(s) {never} of y hold no measured value (all NaN); "
            "drop them before fitting."
        )
    return Y, names, is_1d


def rmse_per_target(Y_true, Y_pred):
    """Root mean squared error of each column over its observed (non-NaN) rows.

    A column with no observed row gives NaN; an infinite prediction gives inf
    (never a silent NaN).

    Examples
    --------
    >>> import numpy as np
    >>> rmse_per_target(np.array([[1.0, np.nan], [3.0, 2.0]]),
    ...                 np.array([[2.0, 5.0], [3.0, 4.0]])).tolist()
    [0.7071067811865476, 2.0]
    """
    Y_true = np.asarray(Y_true, dtype=np.float64)
    Y_pred = np.asarray(Y_pred, dtype=np.float64)
    observed = ~np.isnan(Y_true)
    err = np.where(observed, Y_pred - Y_true, 0.0)
    count = observed.sum(axis=0)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.sqrt(np.sum(err**2, axis=0) / np.maximum(count, 1))
    return np.where(count > 0, out, np.nan)


def nan_r2_score(y_true, y_pred, sample_weight=None):
    """Mean R2 over columns, each over its non-NaN rows.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
    y_pred : array-like of the same shape
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    score : float
        NaN when no column has two measured rows.

    Examples
    --------
    >>> import numpy as np
    >>> nan_r2_score(np.array([[1.0, 1.0], [2.0, np.nan], [3.0, 3.0]]),
    ...              np.array([[1.0, 1.0], [2.0, 9.0], [3.0, 3.0]]))
    1.0
    """
    Y = np.asarray(y_true, dtype=np.float64)
    P = np.asarray(y_pred, dtype=np.float64)
    Y = Y.reshape(len(Y), -1)
    P = P.reshape(len(P), -1)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    scores = []
    for j in range(Y.shape[1]):
        ok = ~np.isnan(Y[:, j])
        if ok.sum() < 2:
            continue
        scores.append(
            r2_score(Y[ok, j], P[ok, j], sample_weight=None if w is None else w[ok])
        )
    return float(np.mean(scores)) if scores else float("nan")
