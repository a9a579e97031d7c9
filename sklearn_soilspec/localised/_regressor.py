"""LocalisedRegressor: one localised model that falls back to the best simple choice."""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._targets import MissingTargetsMixin, check_targets, target_names_of
from ..preprocessing import resolve_wavelengths
from . import _combine
from ._members import (
    CorrectedSourceMember,
    FineTunedMember,
    FoldMean,
    LibraryMember,
    LocalMember,
    MeanMember,
    SourceMember,
    TransferView,
    regrid,
)
from ._recipes import (
    MEMBER_NAMES,
    REFITTED,
    LIBRARY_BASED,
    fine_tune_params,
    library_arrays,
    library_estimators,
    local_estimators,
    resolve_source,
    without_local_rows,
    working_grid,
)
from ._replicates import check_groups, warn_if_replicates
from ._seen import SeenRows

__all__ = ["LocalisedRegressor"]


def _say(message):
    print(message, flush=True)


# A Gaussian process costs n^3: beyond this many local rows "auto" leaves the
# GPs out (PLSR and the transfer candidates have the data they need by then).
_GP_MAX_ROWS = 3000


class LocalisedRegressor(MissingTargetsMixin, RegressorMixin, BaseEstimator):
    """Localise a global model with a few local samples, never worse than the best simple choice.

    For every soil property, candidate models are fitted on the local
    samples and scored on the same samples by K-fold cross-fitting: each
    candidate's out-of-fold predictions come from models that never saw those
    rows, and the candidates that predict afterwards are those fold models
    (their mean), so the weights hold for what predicts. The options weighed
    per property are weighed on them: by default every candidate not clearly
    behind the best one's out-of-fold RMSE gets an equal weight, "clearly"
    narrowing from 1.5 times on a few dozen rows to a few percent on
    thousands, so that it averages at small n and chooses at large n (one
    candidate far ahead of the rest stands alone: "the global model as it
    is", "local PLSR"); ``weighting="select"`` chooses among single
    candidates, equal blends of the best two to four and free weights
    instead, a more complex option only where it gains a margin that grows
    as the local set shrinks.

    Candidates (``members``):

    ``source``
        The global model as it is.
    ``source_corrected``
        The global model plus a per-property offset and slope fitted on the
        local rows, the offset shrunk toward zero and the slope toward one at
        small n (``y = p + c n/(n+2) + (b-1) n/(n+10) (p - mean p)``, slope
        within [0, 3]).
    ``fine_tuned``
        The source network fine-tuned on the local rows with its convolution
        blocks frozen, with as many epochs as its own inner cross-fit
        supports (possibly none: the source as it is), ``n_seeds`` runs
        averaged per fold (only for a source
        ending in a :class:`~sklearn_soilspec.neural.SpectralCNNRegressor`).
        A source trained with per-domain standardisation is fine-tuned on
        the local data standardised with its own statistics; otherwise the
        carried heads are re-expressed in the local targets' scale.
    ``plsr``
        Savitzky-Golay first derivative (window 11, order 2) and
        :class:`~sklearn_soilspec.baselines.PLSRegressionCV`, local.
    ``gpr``, ``gpr_d2``
        :class:`~sklearn_soilspec.baselines.PCAGaussianProcessRegressor` on
        the first (window 11) and second (window 15) Savitzky-Golay
        derivative, local.
    ``mbl``, ``spiked_plsr``
        With a ``library``: memory-based learning with the local rows spiked
        into every neighbourhood, and a PLSR of the library with the local
        rows weighted five times, both on the library's grid.
    ``mean``
        The local mean of each property: the floor every model must beat.

    Local candidates see the local spectra on their own full range; the
    transfer candidates see them resampled onto the source model's grid, the
    library candidates onto the library's. A property the source does not
    predict gets only the local candidates.

    Parameters
    ----------
    source : str, PathLike or fitted estimator
        The global model: a model file written by
        :func:`~sklearn_soilspec.transfer.save_model`, a fitted Pipeline
        (e.g. from :func:`train_source_model`), a fitted
        :class:`~sklearn_soilspec.neural.SpectralCNNRegressor` or a
        :class:`~sklearn.frozen.FrozenEstimator` of one. Any fitted regressor
        works for ``source`` and ``source_corrected``; its properties are read
        from ``target_names_`` of its final step, or taken to be the local
        properties in order. Kept by reference through ``clone``, never
        modified.
    library : SpectralLibrary, tuple (X, Y) or None, default=None
        The global library, for ``mbl`` and ``spiked_plsr``. ``X`` a
        DataFrame with wavelength columns (or an array on the local grid),
        ``Y`` a DataFrame whose columns are matched to the local properties by
        name. Kept by reference through ``clone``, never copied.
    members : "auto" or list of str, default="auto"
        Candidates to weigh. ``"auto"``: all of them that apply (the transfer
        ones need a source that can take the local spectra, the library ones
        a library; the Gaussian processes are left out above 3,000 local
        rows, their cost growing as n^3). What was left out and why is in
        ``skipped_``.
    cv : int, default=5
        Folds of the cross-fitting, K = min(cv, n_samples), shuffled.
    n_seeds : int, default=1
        Fine-tuning runs per fold, averaged. The K fold models are already a
        seed-and-subsample ensemble of K runs.
    coverage : float, default=0.9
        Nominal coverage of :meth:`predict_interval`.
    weighting : {"equal", "select"}, default="equal"
        ``"equal"``: equal weights on every candidate within
        ``min(1.5, 1 + 2 / sqrt(n))`` times the best out-of-fold RMSE on the
        property's ``n`` measured rows (1.5 up to n = 16, 1.2 at n = 100,
        1.06 at n = 1,000; chosen on inner folds of the LimeSoDa training
        rows: ``benchmarks/RESULTS.md``). Where the local rows are in the
        ``library`` or the source was trained on them, the source-based
        candidates' out-of-fold error is in-sample: with a library candidate
        the ratio is measured from the best candidate not built on the
        source; without one it is 1.5 whatever ``n``.
        ``"select"``: options, ``margin``.
    margin : float, default=0.3
        With ``weighting="select"``, the complexity margin: an equal blend replaces the best single candidate
        only if its out-of-fold RMSE is lower by more than
        ``margin / sqrt(n)`` (10.6 % at n = 8, 3 % at n = 100), and free
        weights replace an equal blend (or a single candidate) by
        ``margin / sqrt(n)`` more per step. An out-of-fold RMSE measured on n
        rows has a relative standard error of about ``1 / sqrt(2 n)``, and
        the more options are searched the more the best of them is flattered
        by chance: on eight rows only a large gain is evidence.
    pls_components : int, default=15
        Largest number of PLS components of ``plsr`` and ``spiked_plsr``.
    fine_tune : dict or None, default=None
        :class:`~sklearn_soilspec.neural.SpectralCNNRegressor` parameters of
        the fine-tuning, over the defaults: the number of epochs is chosen
        per property by an inner 3-fold cross-fit among 0, 2, 5, 10, 20 and
        40 epochs at ``lr=1e-4`` (ending at about 160 gradient steps above
        128 rows) and the source as it is; no rows are held out for early
        stopping. Besides network parameters, the keys ``checkpoints``,
        ``inner_cv`` and ``select_margin`` set that choice, and
        ``checkpoints=None`` trains ``max_epochs`` and takes the end.
    wavelengths : array-like or None, default=None
        Spectral axis of an array ``X``. None: read from a DataFrame's
        column names, or, for an array, the columns are taken to be on the
        source model's grid already.
    random_state : int or None, default=0
        Seeds the folds, the fine-tuning runs and the Gaussian processes.
    n_jobs : int or None, default=None
        Candidates cross-fitted in parallel (joblib, one task per candidate
        and all its folds, then the refits). Every candidate seeds itself,
        so the fitted model is the sequential one (up to the rounding of
        torch's thread count). None means 1 unless in a
        :obj:`joblib.parallel_backend` context; -1 uses every core. On 100
        local vis-NIR rows with a ~1,100-spectrum library the fit took 38 s
        on one core and 32 s with ``n_jobs=2``: the fine-tuning runs are
        half of the work and bound it, and starting the workers costs a
        few seconds.
    verbose : int, default=0
        1 or more: a line as each candidate's cross-fit ends (with its
        seconds) and the option chosen per property.

    Attributes
    ----------
    members_ : dict of str -> fitted model
        Every candidate that got weight for some property: the mean of its
        fold models (``fine_tuned``, ``mbl``) or refitted on all local rows
        (the cheap ``source_corrected``, ``plsr``, ``gpr``, ``gpr_d2``,
        ``spiked_plsr``, ``mean``, whose fold fits only served the weights).
    weights_ : DataFrame of shape (n_candidates, n_targets)
        Weight of each candidate per property (columns sum to one).
    localisation_report_ : DataFrame
        One row per property and candidate: ``oof_rmse``, ``weight``,
        ``n_rows`` (measured local rows), ``status``; and per property a row
        ``localised`` with the chosen ``option`` and the % change of its
        out-of-fold RMSE against the source as it is (``vs_source_pct``) and
        local PLSR (``vs_plsr_pct``); negative means better. The localised
        row's RMSE is slightly optimistic: the weights were chosen on it.
    interval_halfwidth_ : ndarray of shape (n_targets,)
        Conformal half-width of :meth:`predict_interval` at ``coverage``.
    target_names_ : list of str
    wavelengths_ : ndarray or None
        The local spectral axis.
    source_ : fitted estimator
        The source model (loaded once when ``source`` is a path).
    skipped_ : dict of str -> str
        Candidates of ``"auto"`` that were left out, and why.
    n_library_overlap_ : int
        Library spectra that were the local spectra themselves, left out of
        the library candidates (only with a ``library``).
    n_source_overlap_ : int
        Local spectra the source network was trained on, found by the
        fingerprints it keeps of its training spectra (warned of).
    source_seen_ : ndarray of bool, shape (n_samples,)
        Local rows the source most likely saw: found by its fingerprints, or
        in the library. The source-based candidates' out-of-fold errors are
        in-sample there; how they are judged is in the Notes.
    failures_ : dict of str -> list of (int, str)
        Fold fits that failed (fold index and message), by candidate.

    See Also
    --------
    make_source_model : the recommended global model.
    sklearn_soilspec.transfer.TransferSelector : one held-out split, three candidates.

    Notes
    -----
    A candidate whose out-of-fold predictions are not finite, or fall more
    than three target ranges outside the local targets, is dropped for that
    property with a warning (a per-domain standardisation fitted on three
    rows can do that); one whose out-of-fold RMSE exceeds 1.5 times the best
    one's gets no weight (with ``weighting="equal"``, the narrower ratio
    above). Predictions are kept within three target ranges of the local
    targets for the same reason.

    On rows the source saw (``source_seen_``) its lead is in-sample: a library
    candidate judges it, else it is trusted (every candidate within 1.5x of
    the best weighs alike): :doc:`/user_guide/localised`.

    With a ``library``, ``mbl`` is memory-based: each of its fold models keeps
    the library (plus the local rows) to search at prediction time, so a
    fitted model that weighs it holds ``cv`` copies of the library.

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn_soilspec.baselines import PLSRegressionCV
    >>> from sklearn_soilspec.datasets import make_spectra
    >>> from sklearn_soilspec.localised import LocalisedRegressor
    >>> from sklearn_soilspec.preprocessing import SavitzkyGolay
    >>> lib = make_spectra(300, n_domains=3, wavelengths=range(400, 2500, 20),
    ...                    targets=("OC", "clay"), random_state=0).as_frame()
    >>> local, glob = lib.split_domain("domain_2")
    >>> source = Pipeline([("sg", SavitzkyGolay(deriv=1)),
    ...                    ("pls", PLSRegressionCV(10, random_state=0))]).fit(glob.X, glob.Y)
    >>> model = LocalisedRegressor(source, members=["source", "source_corrected", "plsr"],
    ...                            cv=3).fit(local.X[:30], local.Y[:30])
    >>> model.predict(local.X[30:32]).shape
    (2, 2)
    >>> model.weights_.sum().round(6).tolist()
    [1.0, 1.0]
    """

    _parameter_constraints = {
        "source": [str, os.PathLike, HasMethods(["predict"])],
        "library": "no_validation",
        "members": [StrOptions({"auto"}), list, tuple],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "n_seeds": [Interval(Integral, 1, None, closed="left")],
        "coverage": [Interval(Real, 0, 1, closed="neither")],
        "margin": [Interval(Real, 0, None, closed="left")],
        "weighting": [StrOptions({"equal", "select"})],
        "pls_components": [Interval(Integral, 1, None, closed="left")],
        "fine_tune": [dict, None],
        "wavelengths": ["array-like", None],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, source, library=None, members="auto", cv=5, n_seeds=1, coverage=0.9,
                 margin=0.3, weighting="equal", pls_components=15, fine_tune=None,
                 wavelengths=None, random_state=0, n_jobs=None, verbose=0):
        self.source = source
        self.library = library
        self.members = members
        self.cv = cv
        self.n_seeds = n_seeds
        self.coverage = coverage
        self.margin = margin
        self.weighting = weighting
        self.pls_components = pls_components
        self.fine_tune = fine_tune
        self.wavelengths = wavelengths
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # fit's groups are sample ids (replicate scans), not domain labels.
    _groups_are_samples = True

    def __sklearn_clone__(self):
        # sklearn's clone would replace the fitted source by an unfitted copy
        # and deep-copy the library; both are only read, so clones share them.
        params = self.get_params(deep=False)
        shared = {k: params.pop(k) for k in ("source", "library")}
        new = type(self)(**shared, **{k: clone(v, safe=False) for k, v in params.items()})
        if hasattr(self, "_metadata_request"):
            new._metadata_request = clone(self._metadata_request, safe=False)
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Tiny networks and few rows in the common checks.
        tags.regressor_tags.poor_score = True
        tags.input_tags.allow_nan = False
        return tags

    # -- fitting -----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Cross-fit the candidates on the local samples and weigh them per property.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_wavelengths)
            Local spectra (columns named by wavelength, or an array with
            ``wavelengths`` set, or on the source's grid).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Local soil properties; NaN where not measured.
        groups : array-like of shape (n_samples,) or None, default=None
            Sample ids (replicate scans of a sample share one, or the
            samples of a field): the cross-fit, and the candidates' own
            inner folds, hold a group's rows out together. Without it, rows
            that repeat another row's values of two or more properties and
            whose nearest spectra are those rows' are warned about. Routed
            with ``set_fit_request(groups=True)``.

        Returns
        -------
        self : LocalisedRegressor
        """
        names = target_names_of(y)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=3)
        Y, self.target_names_, self._y_is_1d = check_targets(y, X.shape[0],
                                                             type(self).__name__, names)
        n, t = Y.shape
        groups = check_groups(groups, n)
        if groups is None:
            warn_if_replicates(X, Y)
        self.source_ = resolve_source(self.source)
        self.wavelengths_ = self._local_axis(X.shape[1])
        members = self._build_members(X, Y)
        splits = _combine.folds(n, self.cv, self.random_state, groups)
        say = _say if self.verbose else None
        if say:
            say(f"LocalisedRegressor: {n} local rows, {t} properties; cross-fitting "
                f"{len(members)} candidates over {len(splits)} folds")
        P, fold_models, failures = _combine.cross_fit_members(list(members.items()), X, Y,
                                                              splits, self.n_jobs, groups, say)
        seen = SeenRows(self.source_seen_, list(members))
        self._choose(members, P, Y, seen.basis())
        if say:
            for _, r in self.localisation_report_.query("candidate == 'localised'").iterrows():
                say(f"  {r.property}: {r.option} (out-of-fold RMSE {r.oof_rmse:.4g})")
        self._residuals = seen.interval_residuals(
            members, P, Y, self.target_names_, self.weighting, self.margin,
            self.weights_.to_numpy(), self._oof_combined)
        self.interval_halfwidth_ = self._halfwidth(self.coverage)
        used = [m for m in members if (self.weights_.loc[m] > 0).any()]
        refit = {m: members[m] for m in used if m in REFITTED or not fold_models[m]}
        refitted = _combine.refit_members(refit, X, Y, self.n_jobs, groups)
        self.members_ = {m: refitted[m] if m in refit else FoldMean(fold_models[m])
                         for m in used}
        self.failures_ = {k: v for k, v in failures.items() if v}
        return self

    def _local_axis(self, n_features):
        if self.wavelengths is not None:
            return resolve_wavelengths(self.wavelengths, n_features=n_features)
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return resolve_wavelengths(feature_names=names, n_features=n_features)
        # An array: on the source's grid already (or no axis at all).
        try:
            view = TransferView(self.source_, None)
        except (AttributeError, ValueError, TypeError):
            return None
        if view.grid is not None and len(view.grid) == n_features:
            return view.grid
        return None

    def _requested(self):
        if isinstance(self.members, str):
            return list(MEMBER_NAMES)
        unknown = [m for m in self.members if m not in MEMBER_NAMES]
        if unknown or not self.members:
            raise ValueError(
                f"Unknown members {unknown}; choose from {list(MEMBER_NAMES)} or 'auto'."
                if unknown else "members is empty: give at least one candidate or 'auto'.")
        return list(self.members)

    def _build_members(self, X, Y):
        n = X.shape[0]
        requested, auto = self._requested(), isinstance(self.members, str)
        self.skipped_, self.n_source_overlap_ = {}, 0
        self.source_seen_ = np.zeros(n, dtype=bool)
        members = {}
        src_cols = self._source_columns(Y.shape[1])
        transfer = [m for m in ("source", "source_corrected", "fine_tuned") if m in requested]
        if transfer:
            if not src_cols:
                for m in transfer:
                    self.skipped_[m] = "the source predicts none of the local properties"
            else:
                view = TransferView(self.source_, self.wavelengths_)
                try:
                    # Checked here, not left to fail fold fit after fold fit.
                    view.to_source(X[:1])
                    view.warn_if_inverted(X)
                    judged = self.library is not None and bool(set(requested) & LIBRARY_BASED)
                    self.source_seen_ = view.seen(X, judged)
                    self.n_source_overlap_ = int(self.source_seen_.sum())
                except ValueError as exc:
                    # Grids that do not overlap, or candidates asked for by
                    # name, are an error; an array of another width with no
                    # axis at all only leaves "auto" without the source.
                    if not auto or self.wavelengths_ is not None:
                        raise
                    warnings.warn(f"The transfer candidates are left out: {exc}", UserWarning,
                                  stacklevel=3)
                    for m in transfer:
                        self.skipped_[m] = str(exc)
                    transfer = []
                if transfer and getattr(view.final, "target_names_", None) is None:
                    width = view.predict(X[:1]).shape[1]
                    if width != Y.shape[1]:
                        raise ValueError(
                            f"The source predicts {width} properties and names none "
                            f"(no target_names_), so they cannot be matched to the "
                            f"{Y.shape[1]} local ones: give the source the local properties "
                            "in order, or a source that names its properties.")
                cols = sorted(src_cols)
                if "source" in transfer:
                    members["source"] = SourceMember(view, src_cols, cols)
                if "source_corrected" in transfer:
                    members["source_corrected"] = CorrectedSourceMember(view, src_cols, cols)
                if "fine_tuned" in transfer:
                    from ..neural import SpectralCNNRegressor

                    if isinstance(view.final, SpectralCNNRegressor):
                        n_train = n - -(-n // max(2, min(self.cv, n)))
                        params = fine_tune_params(view.final, n_train, self.fine_tune)
                        members["fine_tuned"] = FineTunedMember(view, src_cols, cols, params,
                                                                self.n_seeds, self.random_state)
                    elif not auto:
                        raise ValueError(
                            "members asks for 'fine_tuned', but the source is a "
                            f"{type(view.final).__name__}, not a SpectralCNNRegressor.")
                    else:
                        self.skipped_["fine_tuned"] = "the source is not a network"
        n_feat = self.n_features_in_ if self.wavelengths_ is None else len(self.wavelengths_)
        grid = working_grid(self.wavelengths_)
        for name, est in local_estimators(n_feat if grid is None else len(grid),
                                          self.pls_components, self.random_state).items():
            if name in requested and auto and name.startswith("gpr") and n > _GP_MAX_ROWS:
                self.skipped_[name] = f"more than {_GP_MAX_ROWS} local rows (cost grows as n^3)"
            elif name in requested:
                members[name] = LocalMember(est, self.wavelengths_, grid=grid)
        lib_members = [m for m in ("mbl", "spiked_plsr") if m in requested]
        if lib_members and self.library is not None:
            lib_X, lib_Y, lib_wl, lib_cols = library_arrays(self.library, self.target_names_,
                                                            self.wavelengths_, n_feat)
            lib_X, lib_Y, self.n_library_overlap_, in_library = without_local_rows(
                lib_X, lib_Y, regrid(X, self.wavelengths_, lib_wl, "the library"))
            # The source most likely came from its library.
            self.source_seen_ |= in_library
            ests = library_estimators(lib_X.shape[1], len(lib_X), self.pls_components,
                                      self.random_state)
            for name in lib_members:
                if not lib_cols:
                    self.skipped_[name] = "the library measures none of the local properties"
                    continue
                members[name] = LibraryMember(ests[name], lib_X, lib_Y, lib_wl,
                                              self.wavelengths_, lib_cols)
        elif lib_members and not auto:
            raise ValueError(f"members {lib_members} need a library: pass library=(X, Y).")
        if "mean" in requested:
            members["mean"] = MeanMember()
        return members

    def _source_columns(self, t):
        """Local column -> source output column, for the properties the source predicts."""
        final = self.source_.steps[-1][1] if isinstance(self.source_, Pipeline) else self.source_
        names = getattr(final, "target_names_", None)
        if names is None:
            # Checked against the predictions' width once the view is known.
            return {j: j for j in range(t)}
        names = [str(s) for s in names]
        return {j: names.index(n) for j, n in enumerate(self.target_names_) if n in names}

    # -- weighing ----------------------------------------------------------------

    def _choose(self, members, P, Y, basis=(None, False)):
        reference, widest = basis
        W, self._range, rows, self._oof_combined = _combine.weigh(
            members, P, Y, self.target_names_, self.weighting, self.margin, widest, reference)
        self.weights_ = pd.DataFrame(W, index=list(members), columns=self.target_names_)
        self.localisation_report_ = pd.DataFrame(rows, columns=_combine.REPORT_COLUMNS)

    def _halfwidth(self, coverage):
        return np.array([_combine.conformal_quantile(r, 1.0 - coverage)
                         for r in self._residuals])

    # -- prediction --------------------------------------------------------------

    def _predict_2d(self, X):
        check_is_fitted(self, "members_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = np.zeros((X.shape[0], len(self.target_names_)))
        for name, model in self.members_.items():
            w = self.weights_.loc[name].to_numpy()
            if not (w > 0).any():
                continue
            P = np.asarray(model.predict(X), dtype=np.float64)
            lo, hi = (np.array([self._range[j][k] for j in range(P.shape[1])]) for k in (0, 1))
            out += np.where(w > 0, np.clip(np.nan_to_num(P), lo, hi), 0.0) * w
        return out

    def predict(self, X, return_interval=False):
        """Predict the local soil properties.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_wavelengths)
            Spectra with the columns seen in ``fit``.
        return_interval : bool, default=False
            Also return the bounds of :meth:`predict_interval` at
            ``coverage``, from the same single pass over the candidates.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        lower, upper : ndarray of the same shape
            Only with ``return_interval=True``.
        """
        out, half = self._predict_2d(X), self.interval_halfwidth_
        return (self._shaped(out, out - half, out + half) if return_interval
                else self._shaped(out)[0])

    def _shaped(self, *arrays):
        return tuple(a[:, 0] if self._y_is_1d else a for a in arrays)

    def predict_interval(self, X, coverage=None):
        """Split-conformal prediction intervals from the out-of-fold residuals.

        For each property, the half-width is the ``ceil((n+1) coverage)``-th
        smallest absolute out-of-fold residual of the combined prediction over
        its ``n`` measured local rows (infinite when ``n`` is too small for the
        coverage asked). The residuals come from fold models that did not see
        the rows, as the predictions of new spectra do; the weights were
        chosen on the same residuals, which makes the intervals slightly
        narrow at very small n. On rows the source saw (``source_seen_``) the
        source-based candidates' residuals are in-sample; there the residual
        is that of the same rule over the local and library candidates, so
        the interval errs wide rather than narrow.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_wavelengths)
        coverage : float in (0, 1) or None, default=None
            None: the ``coverage`` set at construction.

        Returns
        -------
        lower, upper : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self, "members_")
        half = self.interval_halfwidth_
        if coverage is not None:
            if not 0 < coverage < 1:
                raise ValueError(f"coverage must lie in (0, 1), got {coverage!r}.")
            half = self._halfwidth(coverage)
        pred = self._predict_2d(X)
        return self._shaped(pred - half, pred + half)
