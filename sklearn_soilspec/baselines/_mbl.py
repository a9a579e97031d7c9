"""Memory-based learning (MBL, LOCAL): a small PLS on each query's neighbours."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._targets import MissingTargetsMixin, check_targets
from ._dissimilarity import Dissimilarity
from ._neighbourhoods import (
    LocalSettings, candidate_array, neighbourhood_predictions, squared_correlation,
    validation_table,
)
from ._validation import check_finite_predictions, check_magnitude, local_rows

__all__ = ["MemoryBasedRegressor"]

# Library rows used to choose among several candidates (selection="library")
# when no local rows are marked.
_N_VALIDATION = 200


class MemoryBasedRegressor(MissingTargetsMixin, RegressorMixin, BaseEstimator):
    """Memory-based learning: local PLS on the nearest spectra of a library.

    ``fit`` stores the library (and its dissimilarity space). For every
    spectrum to predict, ``predict`` finds its most similar library spectra
    and fits a PLS or weighted-average PLS on them alone, as the R package
    resemble's ``mbl`` and the LOCAL algorithm (Shenk et al., 1997) do. The
    local models of a batch of queries are fitted together with vectorised
    NIPALS. Every option of resemble's ``mbl`` for these parts has its
    counterpart here (see Notes).

    Parameters
    ----------
    n_neighbors : int or array-like of int, default=100
        Neighbourhood size (resemble's ``neighbors_k``). Several values: one is
        chosen (see ``selection``).
    diss_threshold : float or array-like of float, default=None
        Neighbourhoods by dissimilarity instead (resemble's
        ``neighbors_diss``): the library rows less dissimilar than the
        threshold, at least ``k_min`` and at most ``k_max`` of them. Several
        values: one is chosen (see ``selection``). ``n_neighbors`` is then
        not used.
    k_min : int, default=4
        Smallest threshold neighbourhood.
    k_max : int, default=None
        Largest threshold neighbourhood (None: the whole library).
    space : {"pca", "pls", "spectra"}, default="pca"
        Where dissimilarity is measured: principal component scores of the
        library, PLS scores of the library on the property (one space per
        property), or the spectra themselves.
    n_pca_components : int, float, "opc" or "var", default=0.99
        Components of the ``"pca"``/``"pls"`` space: a number; a float in
        (0, 1), the fraction of spectral variance to keep; ``"opc"``,
        resemble's ``ncomp_by_opc`` (the number of components for which the
        nearest library neighbour of every library row has the most similar
        property, chosen per property); ``"var"``, resemble's
        ``ncomp_by_var`` (the components explaining at least 1 % of the
        variance each).
    max_components : int, default=40
        Most components tried by ``"opc"`` and ``"var"``.
    metric : {"mahalanobis", "euclidean", "correlation", "cosine"}, \
            default="mahalanobis"
        Dissimilarity, in resemble's units (these matter for
        ``diss_threshold``): Mahalanobis (``space="pca"`` or ``"pls"``), the
        Euclidean distance between standardised scores divided by the square
        root of their number; Euclidean, the same on unstandardised values;
        correlation, ``(1 - r) / 2``; cosine, the angle between the vectors.
    window : int, default=None
        Moving-window correlation (resemble's ``diss_correlation(ws=)``): the
        mean correlation over all windows of this many (an odd number, at
        least 3) variables.
    diss_center, diss_scale : bool, default=False
        Centre and scale every variable by its library mean and standard
        deviation before the dissimilarity (resemble's ``center``/``scale``
        of ``diss_*``; a PCA or PLS always centres).
    diss_usage : {"none", "weights", "predictors"}, default="none"
        How the dissimilarities enter the local model (resemble's
        ``diss_usage``): not at all; as tricube weights of the neighbours; or
        as extra predictors, the neighbours' dissimilarities to one another
        beside their spectra and the query's to them beside its spectrum.
    local_model : {"wapls", "pls"}, default="wapls"
        ``"wapls"``: weighted average of the PLS models with ``min`` to
        ``max`` components (resemble's ``fit_wapls``; weights
        ``1 / (s_j g_j)``, ``s_j`` the RMS spectral residual of the query and
        ``g_j`` the RMS regression coefficient of the ``j``-component model).
        ``"pls"``: one PLS with a fixed number of components (``fit_pls``).
    pls_components : int or (int, int), default=(3, 15)
        ``(min, max)`` components of the weighted average, or the fixed number
        (an int works for both models). Clipped to the neighbourhood's rank.
    pls_algorithm : {"pls", "mpls"}, default="pls"
        NIPALS weights from covariances (``"pls"``) or correlations
        (``"mpls"``, modified PLS, resemble's default in ``fit_*``).
    local_scale : bool, default=False
        Scale the predictors of every neighbourhood by their standard
        deviation there (resemble's ``scale`` of ``fit_*``).
    clip_predictions : bool, default=False
        Bound every prediction by the range of its neighbours' property
        values (resemble's ``range_prediction_limits``, on there by default).
    local_cv : bool, default=False
        resemble's local cross-validation with ``tune_locally``: every
        neighbourhood is split ``local_cv_number`` times, a share
        ``local_cv_p`` of its rows (drawn stratified on the property) fitting
        the local models that predict the rest; the PLS components (or WA-PLS
        range) with the lowest mean RMSE predict the query.
    local_cv_number : int, default=10
    local_cv_p : float, default=0.75
    transductive : bool, default=False
        Fit the dissimilarity space (centring, scaling, PCA and its number of
        components, score covariance) on the library and the spectra to
        predict together, as resemble's ``mbl`` does with ``Xu``: refitted at
        every ``predict`` call, so that predictions depend on the other
        queries of the call. The PLS of ``space="pls"`` stays fitted on the
        library, as in resemble.
    selection : {"library", "nnv", "local_cv"}, default="library"
        How one of several candidates (``n_neighbors`` or ``diss_threshold``)
        is chosen. ``"library"``: at fit, the lowest RMSE when library rows
        are predicted from the rest of the library (the local rows when
        marked, otherwise up to 200 random rows). ``"nnv"``: at every
        ``predict`` call, resemble's nearest-neighbour validation on the
        queries themselves: each query's nearest neighbour is left out of its
        neighbourhood and predicted by the others; the candidate with the
        lowest RMSE over the queries gives the predictions. It needs no
        property of the queries, but the predictions of a query then depend
        on the other queries of the call (see :meth:`validate`).
        ``"local_cv"`` (with ``local_cv=True``): the same, by the mean local
        cross-validation RMSE of the queries' neighbourhoods.
    spike : bool, default=False
        Add every local row (see ``fit``) to every neighbourhood, on top of the
        nearest other rows (resemble's ``spike``).
    local_domain : object or list, default=None
        The group(s) in ``fit``'s ``groups`` that are local.
    n_jobs : int, default=None
        Threads for the neighbour search and the local models.
    random_state : int, RandomState instance or None, default=None
        Choice of validation rows with ``selection="library"``, and of the
        local cross-validation splits.

    Attributes
    ----------
    n_neighbors_ : ndarray of shape (n_targets,)
        Neighbourhood size used for each target (``n_neighbors`` candidates,
        ``selection="library"``).
    diss_threshold_ : ndarray of shape (n_targets,)
        Threshold used for each target (``diss_threshold``,
        ``selection="library"``).
    validation_rmse_ : ndarray of shape (n_targets, n_candidates)
        Library validation RMSE of each candidate (``selection="library"``,
        several candidates).
    n_components_ : ndarray of shape (n_targets,)
        Components of the dissimilarity space of each target (None for
        ``space="spectra"``).
    pca_ : PCA or None
        The library's PCA (``space="pca"``).
    library_X_ : ndarray of shape (n_samples, n_wavelengths)
        Stored library spectra.
    library_y_ : ndarray of shape (n_samples, n_targets)
        Stored library properties (NaN where not measured).
    is_local_ : ndarray of bool of shape (n_samples,)
        Rows marked local in ``fit``.
    n_features_in_ : int

    See Also
    --------
    PLSRegressionCV : One global PLS model.
    SpikedRegressor : A global model fitted on the library spiked with local rows.

    Notes
    -----
    resemble's vignette case (LOCAL on NIRsoil carbon) is
    ``MemoryBasedRegressor([80, 120, 160], space="spectra",
    metric="correlation", pls_components=(3, 25), pls_algorithm="mpls",
    local_scale=True, clip_predictions=True, selection="nnv")``; it
    reproduces the vignette's validation table and test RMSE to the printed
    digits (``benchmarks/bench_mbl.py --nirsoil``). resemble 2.x's own
    ``mbl()`` defaults do worse than these there (``--defaults-only``).

    Differences from resemble: its PCA, and the centring and scaling of
    ``diss_*``, use the library and the queries together, here the library
    alone unless ``transductive=True``; its grouped validation and
    Gaussian-process local models are not offered; its local
    cross-validation draws other random splits, and the NNv of a locally
    tuned model uses the fixed components; where resemble stops on a neighbourhood
    smaller than the PLS components, the components are clipped to the
    smallest neighbourhood of the batch.

    Targets with NaN are handled one at a time: neighbours are searched among
    the rows where that property was measured.

    ``fit`` requests ``groups`` and ``is_local`` under metadata routing, so a
    Pipeline ending in this estimator hands them on.

    References
    ----------
    Shenk, J., Westerhaus, M., Berzaghi, P., 1997. Investigation of a LOCAL
    calibration procedure for near infrared instruments. Journal of Near
    Infrared Spectroscopy 5, 223-232.

    Ramirez-Lopez, L. et al., 2013. The spectrum-based learner: a new local
    approach for modeling soil vis-NIR spectra of complex datasets.
    Geoderma 195-196, 268-279.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_soilspec.baselines import MemoryBasedRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 40))
    >>> y = X[:, 0] + 0.1 * rng.normal(size=300)
    >>> mbl = MemoryBasedRegressor(n_neighbors=50, pls_components=(2, 5))
    >>> mbl.fit(X, y).predict(X[:3]).shape
    (3,)
    >>> local = MemoryBasedRegressor(
    ...     [40, 80], space="spectra", metric="correlation", pls_components=(2, 5),
    ...     pls_algorithm="mpls", local_scale=True, clip_predictions=True,
    ...     selection="nnv").fit(X, y)
    >>> local.validate(X[:20])["candidates"]
    array([40, 80])
    """

    # The domain labels mark the local rows (with ``local_domain``): request
    # them by default, so that routing callers (Pipeline, the experiment
    # runner) pass them.
    __metadata_request__fit = {"groups": True, "is_local": True}

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 2, None, closed="left"), "array-like"],
        "diss_threshold": [Interval(Real, 0, None, closed="neither"), "array-like", None],
        "k_min": [Interval(Integral, 2, None, closed="left")],
        "k_max": [Interval(Integral, 2, None, closed="left"), None],
        "space": [StrOptions({"pca", "pls", "spectra"})],
        "n_pca_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
            StrOptions({"opc", "var"}),
        ],
        "max_components": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"mahalanobis", "euclidean", "correlation", "cosine"})],
        "window": [Interval(Integral, 3, None, closed="left"), None],
        "diss_center": ["boolean"],
        "diss_scale": ["boolean"],
        "diss_usage": [StrOptions({"none", "weights", "predictors"})],
        "local_model": [StrOptions({"wapls", "pls"})],
        "pls_components": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "pls_algorithm": [StrOptions({"pls", "mpls"})],
        "local_scale": ["boolean"],
        "clip_predictions": ["boolean"],
        "local_cv": ["boolean"],
        "local_cv_number": [Interval(Integral, 1, None, closed="left")],
        "local_cv_p": [Interval(Real, 0, 1, closed="neither")],
        "transductive": ["boolean"],
        "selection": [StrOptions({"library", "nnv", "local_cv"})],
        "spike": ["boolean"],
        "local_domain": "no_validation",
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_neighbors=100,
        *,
        diss_threshold=None,
        k_min=4,
        k_max=None,
        space="pca",
        n_pca_components=0.99,
        max_components=40,
        metric="mahalanobis",
        window=None,
        diss_center=False,
        diss_scale=False,
        diss_usage="none",
        local_model="wapls",
        pls_components=(3, 15),
        pls_algorithm="pls",
        local_scale=False,
        clip_predictions=False,
        local_cv=False,
        local_cv_number=10,
        local_cv_p=0.75,
        transductive=False,
        selection="library",
        spike=False,
        local_domain=None,
        n_jobs=None,
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.diss_threshold = diss_threshold
        self.k_min = k_min
        self.k_max = k_max
        self.space = space
        self.n_pca_components = n_pca_components
        self.max_components = max_components
        self.metric = metric
        self.window = window
        self.diss_center = diss_center
        self.diss_scale = diss_scale
        self.diss_usage = diss_usage
        self.local_model = local_model
        self.pls_components = pls_components
        self.pls_algorithm = pls_algorithm
        self.local_scale = local_scale
        self.clip_predictions = clip_predictions
        self.local_cv = local_cv
        self.local_cv_number = local_cv_number
        self.local_cv_p = local_cv_p
        self.transductive = transductive
        self.selection = selection
        self.spike = spike
        self.local_domain = local_domain
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None, is_local=None):
        """Store the library and fit its dissimilarity space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Library spectra (global and, if any, local rows).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Properties; NaN where not measured.
        groups : array-like of shape (n_samples,), default=None
            Domain of every row; rows equal to ``local_domain`` are local.
        is_local : array-like of bool of shape (n_samples,), default=None
            Marks the local rows directly (wins over ``groups``).

        Returns
        -------
        self : MemoryBasedRegressor
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=3)
        check_magnitude(X, type(self).__name__)
        Y, _, single = check_targets(y, X.shape[0], type(self).__name__)
        check_magnitude(Y, type(self).__name__, "targets")
        if not np.ptp(X, axis=0).any():
            raise ValueError(
                f"All {X.shape[0]} library spectra are identical: no spectrum is nearer "
                "than another and no local model has anything to regress on. Check that "
                "the spectra were read correctly (one per sample)."
            )
        self._check_options(X)
        local = local_rows(X.shape[0], groups, is_local, self.local_domain)
        if self.spike and local is None:
            raise ValueError(
                "spike=True adds the local rows to every neighbourhood, so fit needs to "
                "know them: pass is_local=, or groups= together with local_domain."
            )
        self.is_local_ = np.zeros(X.shape[0], bool) if local is None else local
        self.library_X_, self.library_y_ = X, Y
        self._single_output = single

        # One search space per distinct set of searchable rows (all targets
        # share it unless some are missing on some rows), and per target when
        # the space depends on the property (PLS scores, "opc" components).
        needs_y = self.space == "pls" or (
            self.space == "pca" and self.n_pca_components == "opc")
        shared = None if needs_y else self._dissimilarity().fit(X)
        self.pca_ = None if shared is None else getattr(shared, "pca_", None)
        self._searches, self._target_search, self._spiked = {}, [], []
        n_components = []
        for j in range(Y.shape[1]):
            measured = ~np.isnan(Y[:, j])
            searchable = measured & ~self.is_local_ if self.spike else measured
            key = (searchable.tobytes(), j if needs_y else None)
            if key not in self._searches:
                rows = np.flatnonzero(searchable)
                if rows.size < 2:
                    raise ValueError(
                        f"Target {j} is measured on {rows.size} non-spiked library row(s); "
                        "a neighbourhood needs at least 2."
                    )
                fit_rows = np.arange(X.shape[0]) if shared is not None else np.flatnonzero(measured)
                diss = shared
                if diss is None:
                    diss = self._dissimilarity().fit(X[fit_rows], Y[fit_rows, j])
                self._searches[key] = (rows, diss.embed(X[rows]), diss, fit_rows)
            self._target_search.append(key)
            diss = self._searches[key][2]
            n_components.append(diss.n_components_)
            spiked = np.flatnonzero(self.is_local_ & measured) if self.spike else np.array([], int)
            self._spiked.append((spiked, diss.embed(X[spiked])) if spiked.size else None)
        self.n_components_ = np.array(n_components, dtype=object)
        if needs_y and self.space == "pca":
            self.pca_ = self._searches[self._target_search[0]][2].pca_

        candidates = self._candidates_array()
        self.validation_rmse_ = None
        if candidates.size == 1 or self.selection != "library":
            chosen = np.full(Y.shape[1], candidates[0] if candidates.size == 1 else np.nan)
        else:
            chosen = self._choose(X, Y, candidates)
        if self._by_threshold:
            self.diss_threshold_ = chosen.astype(float)
        else:
            self.n_neighbors_ = chosen if np.isnan(chosen).any() else chosen.astype(int)
        return self

    def _dissimilarity(self):
        return Dissimilarity(
            space=self.space, metric=self.metric, n_components=self.n_pca_components,
            max_components=self.max_components, center=self.diss_center,
            scale=self.diss_scale, window=self.window,
        )

    def _check_options(self, X):
        if self.metric == "mahalanobis" and self.space == "spectra":
            raise ValueError(
                "metric='mahalanobis' needs space='pca' or 'pls': the covariance of all "
                "wavelengths estimated from the library is singular."
            )
        if self.window is not None:
            if self.metric != "correlation" or self.space != "spectra":
                raise ValueError(
                    "window= is the moving-window correlation of spectra: it needs "
                    f"metric='correlation' and space='spectra', got metric={self.metric!r}, "
                    f"space={self.space!r}."
                )
            if self.window % 2 == 0 or self.window >= X.shape[1]:
                raise ValueError(
                    f"window must be an odd number of wavelengths below {X.shape[1]}, "
                    f"got {self.window}."
                )
        if self.space == "pls" and not (
            self.n_pca_components == "opc" or isinstance(self.n_pca_components, Integral)
        ):
            raise ValueError(
                "space='pls' takes its components as an int or n_pca_components='opc', "
                f"got {self.n_pca_components!r}."
            )
        if self.k_max is not None and self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) must not be below k_min ({self.k_min}).")
        comps = self.pls_components
        if isinstance(comps, Integral):
            comps = (comps, comps)
        if (
            len(comps) != 2
            or not all(isinstance(c, Integral) and c >= 1 for c in comps)
            or comps[0] > comps[1]
        ):
            raise ValueError(
                f"pls_components must be an int or a (min, max) pair with 1 <= min <= max, "
                f"got {self.pls_components!r}."
            )
        if self.local_model == "pls" and comps[0] != comps[1]:
            raise ValueError(
                "local_model='pls' fits one PLS with a fixed number of components: give "
                f"pls_components as an int, got {self.pls_components!r}."
            )
        self._components = (int(comps[0]), int(comps[1]))
        self._by_threshold = self.diss_threshold is not None
        if self.selection == "local_cv" and not self.local_cv:
            raise ValueError("selection='local_cv' needs local_cv=True.")
        # The local splits are drawn from this seed, fixed at fit.
        self._seed = (int(check_random_state(self.random_state).randint(2**31 - 1))
                      if self.local_cv else 0)

    def _candidates_array(self):
        return candidate_array(self.n_neighbors, self.diss_threshold)

    def _settings(self):
        return LocalSettings(
            model=self.local_model, components=self._components,
            modified=self.pls_algorithm == "mpls", scale=self.local_scale,
            clip=self.clip_predictions, diss_usage=self.diss_usage,
            local_cv=(self.local_cv_number, self.local_cv_p) if self.local_cv else None,
            seed=self._seed,
        )

    def _k_bounds(self, j):
        n_rows = self._searches[self._target_search[j]][0].size
        k_max = n_rows if self.k_max is None else min(self.k_max, n_rows)
        return min(self.k_min, k_max), k_max

    def _run(self, X, j, candidates, exclude=None, nnv=False):
        rows, Zr, diss, fit_rows = self._searches[self._target_search[j]]
        spiked = self._spiked[j]
        if self.transductive and exclude is None:
            # resemble's space: the library and these queries together.
            y = self.library_y_[fit_rows, j]
            diss = self._dissimilarity().fit(self.library_X_[fit_rows], y, X_extra=X)
            Zr = diss.embed(self.library_X_[rows])
            if spiked is not None:
                spiked = (spiked[0], diss.embed(self.library_X_[spiked[0]]))
        return neighbourhood_predictions(
            X, diss.embed(X), (rows, Zr, diss), self.library_X_, self.library_y_[:, j],
            candidates, self._by_threshold, self._k_bounds(j), self._settings(),
            spiked=spiked, exclude=exclude, nnv=nnv, n_jobs=self.n_jobs,
        )

    def _choose(self, X, Y, candidates):
        rng = check_random_state(self.random_state)
        pool = np.flatnonzero(self.is_local_) if self.is_local_.any() else np.arange(X.shape[0])
        self.validation_rmse_ = np.full((Y.shape[1], candidates.size), np.nan)
        chosen = np.zeros(Y.shape[1])
        for j in range(Y.shape[1]):
            rows = pool[~np.isnan(Y[pool, j])]
            if rows.size > _N_VALIDATION:
                rows = np.sort(rng.choice(rows, _N_VALIDATION, replace=False))
            if rows.size == 0:
                chosen[j] = candidates[-1]
                continue
            # Each validation row is predicted without itself.
            preds = self._run(X[rows], j, candidates, exclude=rows)[0]
            err = preds - Y[rows, j][:, None]
            self.validation_rmse_[j] = np.sqrt(np.mean(err**2, axis=0))
            chosen[j] = candidates[int(np.argmin(self.validation_rmse_[j]))]
        return chosen

    # -------------------------------------------------------------- predict
    def predict(self, X):
        """Predict each spectrum from a local model on its nearest library spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        X = self._check_queries(X)
        columns = []
        for j in range(self.library_y_.shape[1]):
            chosen = (self.diss_threshold_ if self._by_threshold else self.n_neighbors_)[j]
            if np.isnan(chosen):  # chosen on the queries (nnv, local_cv)
                table = self._validate_target(X, j)
                columns.append(table["predictions"][:, table["best"]])
            else:
                columns.append(self._run(X, j, [chosen])[0][:, 0])
        out = np.column_stack(columns)
        check_finite_predictions(out, type(self).__name__)
        return out[:, 0] if self._single_output else out

    def validate(self, X, y=None):
        """resemble's validation table: every candidate on the queries ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_wavelengths)
            Queries (resemble's ``Xu``).
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Their properties, if known (resemble's ``Yu``; NaN where not
            measured): only used to report the prediction RMSE.

        Returns
        -------
        table : dict (a list of dicts, one per target, for several targets)
            ``candidates``; ``nnv_rmse``, ``nnv_st_rmse`` (RMSE over the range
            of the nearest neighbours' values) and ``nnv_r2`` of the
            nearest-neighbour validation; ``p_bounded``, the share of
            threshold neighbourhoods reset to ``k_min``/``k_max``;
            ``predictions`` of shape (n_samples, n_candidates); with
            ``local_cv=True``, ``local_cv_rmse``, the mean local
            cross-validation RMSE; ``best``, the index of the lowest NNv RMSE
            (local CV RMSE for ``selection="local_cv"``); with ``y``, ``rmse``
            and ``r2`` of the predictions.
        """
        X = self._check_queries(X)
        Y = None
        if y is not None:
            Y, _, _ = check_targets(y, X.shape[0], type(self).__name__)
            if Y.shape[1] != self.library_y_.shape[1]:
                raise ValueError(
                    f"y has {Y.shape[1]} target(s), the library {self.library_y_.shape[1]}."
                )
        tables = []
        for j in range(self.library_y_.shape[1]):
            table = self._validate_target(X, j)
            if Y is not None:
                ok = ~np.isnan(Y[:, j])
                pred = table["predictions"][ok]
                table["rmse"] = np.sqrt(np.mean((pred - Y[ok, j][:, None]) ** 2, axis=0))
                table["r2"] = np.array([squared_correlation(p, Y[ok, j]) for p in pred.T])
            tables.append(table)
        return tables[0] if self._single_output else tables

    def _validate_target(self, X, j):
        if X.shape[0] < 3:
            raise ValueError(
                "Nearest-neighbour validation needs at least 3 queries, got "
                f"{X.shape[0]}: predict more spectra at once, or use selection='library'."
            )
        candidates = self._candidates_array()
        out = self._run(X, j, candidates, nnv=True)
        return validation_table(candidates, *out, by=self.selection)

    def _check_queries(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        check_magnitude(X, type(self).__name__)
        return X
