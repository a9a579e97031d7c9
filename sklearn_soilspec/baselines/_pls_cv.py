"""PLS regression whose number of components is chosen by cross-validation."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import GroupKFold, KFold, check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._targets import MissingTargetsMixin, check_targets
from ._validation import check_finite_predictions, check_magnitude

__all__ = ["PLSRegressionCV"]


def _truncated_predictions(pls, X, y_std):
    """Predictions of ``pls`` with 1, 2, ..., n_components components.

    NIPALS components are nested (the rotation of component ``a`` only
    depends on weights ``1..a`` because ``W'P`` is triangular), so one fit
    with the largest number gives every smaller model; the tests check this
    against separate fits.

    Returns
    -------
    Y_hat : ndarray of shape (n_components, n_samples, n_targets)
    """
    scores = pls.transform(X)
    # One contribution per component, as in PLSRegression.predict:
    # Y = intercept + T Q' * y_std.
    contrib = scores.T[:, :, None] * (pls.y_loadings_.T * y_std)[:, None, :]
    return pls.intercept_ + np.cumsum(contrib, axis=0)


def _rank_upto(X, k):
    """``min(rank of centred X, k)``, at the cost of one product with k + 5 columns.

    The centred rows projected on a few random directions keep the rank up to
    the number of directions (with probability one), so the SVD is of an
    ``(n, k + 5)`` matrix, not of the spectra.
    """
    Xc = X - X.mean(axis=0)
    width = k + 5
    if Xc.shape[1] > width:
        Xc = Xc @ np.random.default_rng(0).standard_normal((Xc.shape[1], width))
    return min(int(np.linalg.matrix_rank(Xc)), k)


class PLSRegressionCV(MissingTargetsMixin, RegressorMixin, BaseEstimator):
    """PLS regression with the number of components chosen by inner CV.

    For every target, PLS models with 1 to ``max_components`` components are
    cross-validated and the number with the lowest RMSE (or, with
    ``one_standard_error=True``, the smallest number within one standard error
    of it) is refitted on all rows. The models are
    :class:`sklearn.cross_decomposition.PLSRegression`.

    Parameters
    ----------
    max_components : int, default=20
        Largest number of components tried. Clipped to what the data allow:
        the number of wavelengths and one less than the smallest training fold.
    cv : int, cross-validation generator or iterable, default=5
        An int gives shuffled :class:`~sklearn.model_selection.KFold`
        (unshuffled folds follow the file order, often spatial, and look far
        worse than they are), or
        :class:`~sklearn.model_selection.GroupKFold` when ``groups`` is passed
        to ``fit``; it is clipped to the number of measured rows (or groups)
        of a target, so that an inner CV on a small local set still runs.
        Groups that leave a target in a single group (a global library of
        one domain) fall back to shuffled ``KFold`` with a warning. A
        splitter is run on the rows where a target is measured; an iterable
        of ``(train, test)`` index pairs refers to all rows and is
        intersected with them.
    one_standard_error : bool, default=False
        Choose the most parsimonious model whose RMSE is within one standard
        error (over folds) of the minimum.
    scale : bool, default=False
        Passed to ``PLSRegression``: scale every wavelength to unit variance.
        Spectra are usually left unscaled, so that noisy regions stay small.
    multioutput : {"per_target", "joint"}, default="per_target"
        ``"per_target"`` fits one PLS1 per property on the rows where it was
        measured, each with its own number of components. ``"joint"`` fits one
        PLS2 for all properties, with the number of components minimising the
        mean RMSE relative to each property's standard deviation; it needs
        every property measured on every row.
    random_state : int, RandomState instance or None, default=None
        Shuffling of the folds when ``cv`` is an int.

    Attributes
    ----------
    n_components_ : int or ndarray of shape (n_targets,)
        Number of components chosen (an int when ``y`` is 1-D).
    cv_rmse_ : ndarray of shape (max_components_,) or (n_targets, max_components_)
        Cross-validated RMSE for 1, 2, ... components (pooled over the
        out-of-fold predictions); NaN past the limit of a target's rows.
    cv_rmse_se_ : ndarray, same shape as ``cv_rmse_``
        Standard error of the per-fold RMSE.
    max_components_ : int
        ``max_components`` after clipping.
    estimators_ : list of PLSRegression
        One per target (``"per_target"``) or a single PLS2 (``"joint"``).
    n_features_in_ : int
        Number of wavelengths seen in ``fit``.

    See Also
    --------
    SpikedRegressor : Fit on a global library spiked with local samples.
    MemoryBasedRegressor : Local PLS on the nearest library spectra.

    Notes
    -----
    Rows with a missing (NaN) target are left out for that target only, so a
    library where pH was measured on fewer samples than organic carbon still
    uses every sample for organic carbon (the ``target_tags.allow_nan`` tag
    says so to :class:`~sklearn_soilspec.experiments.LocalisationExperiment`).

    ``fit`` requests ``groups`` under metadata routing (``sklearn.set_config(
    enable_metadata_routing=True)``): a Pipeline or ``cross_validate`` given
    ``groups`` hands them on, and the inner CV keeps every group in one fold.
    ``set_fit_request(groups=False)`` keeps the shuffled inner CV.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.baselines import PLSRegressionCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 30))
    >>> y = X[:, :3] @ [1.0, -2.0, 0.5] + 0.05 * rng.normal(size=60)
    >>> model = PLSRegressionCV(max_components=10, random_state=0).fit(X, y)
    >>> model.cv_rmse_.shape
    (10,)
    >>> model.predict(X[:2]).shape
    (2,)
    """

    # Grouped inner CV is what groups are for here: request them by default
    # so that routing callers (Pipeline, the experiment runner) pass them.
    __metadata_request__fit = {"groups": True}
    # Its groups only keep rows together in the inner folds: replicate scans'
    # sample ids are as right for them as domain labels.
    _groups_are_folds = True

    _parameter_constraints = {
        "max_components": [Interval(Integral, 1, None, closed="left")],
        "cv": ["cv_object"],
        "one_standard_error": ["boolean"],
        "scale": ["boolean"],
        "multioutput": [StrOptions({"per_target", "joint"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        max_components=20,
        *,
        cv=5,
        one_standard_error=False,
        scale=False,
        multioutput="per_target",
        random_state=None,
    ):
        self.max_components = max_components
        self.cv = cv
        self.one_standard_error = one_standard_error
        self.scale = scale
        self.multioutput = multioutput
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
        """Choose the number of components per target and refit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Spectra.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Soil properties; NaN where a property was not measured.
        groups : array-like of shape (n_samples,), default=None
            Group of every row (site, profile, field): folds never split a
            group, so the CV estimates prediction for new groups.

        Returns
        -------
        self : PLSRegressionCV
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        check_magnitude(X, type(self).__name__)
        Y, _, single = check_targets(y, X.shape[0], type(self).__name__)
        check_magnitude(Y, type(self).__name__, "targets")
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (X.shape[0],):
                raise ValueError(
                    f"groups must have one entry per row ({X.shape[0]}), "
                    f"got shape {groups.shape}."
                )
        observed = ~np.isnan(Y)
        if self.multioutput == "joint":
            if not observed.all():
                raise ValueError(
                    "multioutput='joint' fits one PLS2 and needs every target measured "
                    f"on every row, but y has {int((~observed).sum())} NaN; use "
                    "multioutput='per_target'."
                )
            column_sets = [np.arange(Y.shape[1])]
        else:
            column_sets = [np.array([j]) for j in range(Y.shape[1])]

        n_targets = Y.shape[1]
        curves, ses, chosen, self.estimators_ = [], [], np.zeros(n_targets, int), []
        limits = []
        for cols in column_sets:
            rows = np.flatnonzero(observed[:, cols].all(axis=1))
            if rows.size < 3:
                raise ValueError(
                    f"Target {cols.tolist()} has {rows.size} measured value(s); "
                    "PLSRegressionCV needs at least 3 to cross-validate."
                )
            splits = self._splits(X, rows, groups)
            a_max = self._component_limit(X[rows], splits)
            limits.append(a_max)
            rmse, se = self._cv_curve(X[rows], Y[rows][:, cols], splits, a_max)
            if len(cols) > 1:
                # Properties come in different units: compare models on RMSE
                # relative to each property's spread.
                spread = Y[rows][:, cols].std(axis=0)
                spread[spread == 0] = 1.0
                score = (rmse / spread[:, None]).mean(axis=0)
                score_se = (se / spread[:, None]).mean(axis=0)
            else:
                score, score_se = rmse[0], se[0]
            best = int(np.argmin(score))
            if self.one_standard_error:
                best = int(np.flatnonzero(score <= score[best] + score_se[best])[0])
            chosen[cols] = best + 1
            curves.extend(rmse)
            ses.extend(se)
            pls = PLSRegression(n_components=best + 1, scale=self.scale)
            self.estimators_.append(pls.fit(X[rows], Y[rows][:, cols]))

        self.max_components_ = max(limits)
        self.cv_rmse_ = self._pad(curves)
        self.cv_rmse_se_ = self._pad(ses)
        self.n_components_ = chosen
        if single:
            self.n_components_ = int(chosen[0])
            self.cv_rmse_, self.cv_rmse_se_ = self.cv_rmse_[0], self.cv_rmse_se_[0]
        self._single_output = single
        return self

    def _pad(self, rows):
        out = np.full((len(rows), self.max_components_), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    def _splits(self, X, rows, groups):
        """Train/test positions *within* ``rows`` for every fold."""
        cv = self.cv
        sub_groups = None if groups is None else groups[rows]
        if isinstance(cv, Integral):
            if groups is not None and np.unique(sub_groups).size < 2:
                # A global library of one domain (one national library, one
                # farm to localise to): no group can be held out, so the
                # rows are the units, as without groups.
                warnings.warn(
                    f"{type(self).__name__}: the {rows.size} measured value(s) of a "
                    "target are all in one group; the inner CV uses shuffled KFold "
                    "instead of GroupKFold.",
                    UserWarning,
                )
                groups = sub_groups = None
            # Fewer measured rows (or groups) than folds happens in nested CV
            # of small local sets: use as many folds as there are, not fail.
            n_units = rows.size if groups is None else np.unique(sub_groups).size
            n_splits = min(cv, n_units)
            if groups is not None:
                cv = GroupKFold(n_splits, shuffle=True, random_state=self.random_state)
            else:
                cv = KFold(n_splits, shuffle=True, random_state=self.random_state)
        if hasattr(cv, "split"):
            return list(cv.split(X[rows], groups=sub_groups))
        # Precomputed index pairs refer to all rows: keep the measured ones.
        position = np.full(X.shape[0], -1)
        position[rows] = np.arange(rows.size)
        splits = []
        for train, test in check_cv(cv).split(X):
            train, test = position[train], position[test]
            splits.append((train[train >= 0], test[test >= 0]))
        return splits

    def _component_limit(self, X, splits):
        # A PLS on n centred rows has rank at most n - 1, and n counts distinct
        # spectra: repeated rows (replicates, copies) add no rank, and a
        # component past the rank divides by a zero norm and predicts NaN.
        _, spectrum = np.unique(X, axis=0, return_inverse=True)
        spectrum = spectrum.ravel()
        if spectrum.max() == 0:
            raise ValueError(
                f"All {X.shape[0]} spectra are identical: PLSR has nothing to regress on. "
                "Check that the spectra were read correctly (one per sample).")
        smallest_train = min(np.unique(spectrum[train]).size for train, _ in splits)
        limit = max(1, min(self.max_components, X.shape[1], smallest_train - 1))
        # Distinct spectra can still span fewer dimensions (repeated
        # wavelengths, spectra that are multiples of each other): a component
        # past the rank of a training fold divides by zero too.
        rank = min(_rank_upto(X[train], limit) for train, _ in splits)
        if rank == 0:
            raise ValueError(
                "The spectra of an inner CV training fold are identical: PLSR has "
                "nothing to regress on. Remove the duplicated spectra or use fewer "
                "folds (cv=)."
            )
        return min(limit, rank)

    def _cv_curve(self, X, Y, splits, a_max):
        """Pooled RMSE and fold standard error for 1..a_max components."""
        n_t = Y.shape[1]
        sq_err = np.zeros((a_max, n_t))
        n_pred = 0
        fold_rmse = []
        for train, test in splits:
            if len(test) == 0:
                continue
            pls = PLSRegression(n_components=a_max, scale=self.scale).fit(X[train], Y[train])
            y_std = Y[train].std(axis=0, ddof=1) if self.scale else np.ones(n_t)
            y_std = np.where(y_std == 0, 1.0, y_std)
            err = (_truncated_predictions(pls, X[test], y_std) - Y[test]) ** 2
            sq_err += err.sum(axis=1)
            n_pred += len(test)
            fold_rmse.append(np.sqrt(err.mean(axis=1)))
        rmse = np.sqrt(sq_err / n_pred).T
        fold_rmse = np.asarray(fold_rmse)
        if len(fold_rmse) > 1:
            se = fold_rmse.std(axis=0, ddof=1).T / np.sqrt(len(fold_rmse))
        else:
            se = np.zeros_like(rmse)
        return rmse, se

    def predict(self, X):
        """Predict the soil properties of spectra ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        check_magnitude(X, type(self).__name__)
        Y = np.column_stack([est.predict(X).reshape(X.shape[0], -1) for est in self.estimators_])
        check_finite_predictions(Y, type(self).__name__)
        return Y[:, 0] if self._single_output else Y
