"""Memory-based learning (MBL, LOCAL): a small PLS on each query's neighbours."""

from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._local_pls import batched_pls1, wapls_weights
from .._targets import MissingTargetsMixin, check_targets
from ._validation import check_finite_predictions, check_magnitude, local_rows

__all__ = ["MemoryBasedRegressor"]

# Queries per batched PLS: 256 x 100 neighbours x 200 wavelengths is 40 MB of
# float64, bounded memory whatever the number of queries, yet large enough
# that the Python loop over components costs nothing.
_CHUNK = 256
# Library rows used to choose among several neighbourhood sizes when no local
# rows are marked.
_N_VALIDATION = 200


class MemoryBasedRegressor(MissingTargetsMixin, RegressorMixin, BaseEstimator):
    """Memory-based learning: local PLS on the nearest spectra of a library.

    ``fit`` stores the library (and its PCA). For every spectrum to predict,
    ``predict`` finds its ``n_neighbors`` most similar library spectra and fits
    a PLS on them alone, as the R package resemble's ``mbl`` and the LOCAL
    algorithm (Shenk et al., 1997) do. All neighbourhoods are searched in one
    batch (:class:`~sklearn.neighbors.NearestNeighbors`) and the local PLS
    models of a batch of queries are fitted together with vectorised NIPALS.

    Parameters
    ----------
    n_neighbors : int or array-like of int, default=100
        Neighbourhood size. Several values: the one with the lowest RMSE in a
        nearest-neighbour validation at fit time is used (each validation row
        is predicted from the rest of the library; the local rows when marked,
        otherwise up to 200 random library rows).
    space : {"pca", "spectra"}, default="pca"
        Where similarity is measured: principal component scores of the
        library, or the spectra themselves.
    n_pca_components : int or float, default=0.99
        Principal components kept for ``space="pca"``; a float in (0, 1) is
        the fraction of spectral variance to keep, as in
        :class:`~sklearn.decomposition.PCA`.
    metric : {"mahalanobis", "euclidean", "correlation"}, default="mahalanobis"
        Dissimilarity. Mahalanobis (``space="pca"`` only) is the Euclidean
        distance between whitened scores; correlation dissimilarity is the
        Euclidean distance between row-standardised vectors divided by the
        square root of their length, ``sqrt(2 (1 - r))``, which orders
        neighbours exactly as ``1 - r``.
    local_model : {"wapls", "pls"}, default="wapls"
        ``"wapls"``: weighted average of the PLS models with ``min`` to
        ``max`` components (resemble's ``local_fit_wapls``, weights
        ``1 / (s_j g_j)`` with ``s_j`` the RMS spectral residual of the query
        and ``g_j`` the RMS regression coefficient of the ``j``-component
        model). ``"pls"``: one PLS with a fixed number of components.
    pls_components : int or (int, int), default=(3, 15)
        ``(min, max)`` components of the weighted average, or the fixed number
        (an int works for both models). Clipped to the neighbourhood's rank.
    spike : bool, default=False
        Add every local row (see ``fit``) to every neighbourhood, on top of the
        ``n_neighbors`` nearest other rows (resemble's ``spike``).
    local_domain : object or list, default=None
        The group(s) in ``fit``'s ``groups`` that are local.
    n_jobs : int, default=None
        Threads for the neighbour search and the local models.
    random_state : int, RandomState instance or None, default=None
        Choice of validation rows when several ``n_neighbors`` are tried.

    Attributes
    ----------
    n_neighbors_ : ndarray of shape (n_targets,)
        Neighbourhood size used for each target.
    validation_rmse_ : ndarray of shape (n_targets, n_candidates)
        Nearest-neighbour validation RMSE of each candidate size (only when
        several are given).
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
    """

    # The domain labels mark the local rows (with ``local_domain``): request
    # them by default, so that routing callers (Pipeline, the experiment
    # runner) pass them.
    __metadata_request__fit = {"groups": True, "is_local": True}

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 2, None, closed="left"), "array-like"],
        "space": [StrOptions({"pca", "spectra"})],
        "n_pca_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "metric": [StrOptions({"mahalanobis", "euclidean", "correlation"})],
        "local_model": [StrOptions({"wapls", "pls"})],
        "pls_components": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "spike": ["boolean"],
        "local_domain": "no_validation",
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_neighbors=100,
        *,
        space="pca",
        n_pca_components=0.99,
        metric="mahalanobis",
        local_model="wapls",
        pls_components=(3, 15),
        spike=False,
        local_domain=None,
        n_jobs=None,
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.space = space
        self.n_pca_components = n_pca_components
        self.metric = metric
        self.local_model = local_model
        self.pls_components = pls_components
        self.spike = spike
        self.local_domain = local_domain
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None, is_local=None):
        """Store the library and build the neighbour search.

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
        self._check_options()
        local = local_rows(X.shape[0], groups, is_local, self.local_domain)
        if self.spike and local is None:
            raise ValueError(
                "spike=True adds the local rows to every neighbourhood, so fit needs to "
                "know them: pass is_local=, or groups= together with local_domain."
            )
        self.is_local_ = np.zeros(X.shape[0], bool) if local is None else local
        self.library_X_, self.library_y_ = X, Y
        self._single_output = single

        self.pca_ = None
        if self.space == "pca":
            n_comp = self.n_pca_components
            if isinstance(n_comp, Integral):
                n_comp = min(n_comp, *X.shape)
            self.pca_ = PCA(
                n_components=n_comp,
                whiten=self.metric == "mahalanobis",
                svd_solver="full" if isinstance(n_comp, float) else "auto",
                random_state=self.random_state,
            ).fit(X)
        Z = self._embed(X)

        # One neighbour index per distinct set of searchable rows: all targets
        # share it unless some are missing on some rows.
        self._indexes, self._target_index = {}, []
        for j in range(Y.shape[1]):
            searchable = ~np.isnan(Y[:, j])
            if self.spike:
                searchable &= ~self.is_local_
            key = searchable.tobytes()
            if key not in self._indexes:
                rows = np.flatnonzero(searchable)
                if rows.size < 2:
                    raise ValueError(
                        f"Target {j} is measured on {rows.size} non-spiked library row(s); "
                        "a neighbourhood needs at least 2."
                    )
                nn = NearestNeighbors(n_jobs=self.n_jobs).fit(Z[rows])
                self._indexes[key] = (rows, nn)
            self._target_index.append(key)

        candidates = np.atleast_1d(np.asarray(self.n_neighbors))
        if candidates.ndim != 1 or candidates.size == 0 or not np.issubdtype(
            candidates.dtype, np.integer
        ) or (candidates < 2).any():
            raise ValueError(
                f"n_neighbors must be an int >= 2 or a list of them, got {self.n_neighbors!r}."
            )
        if candidates.size == 1:
            self.n_neighbors_ = np.full(Y.shape[1], int(candidates[0]))
        else:
            self._choose_n_neighbors(X, Z, Y, np.sort(np.unique(candidates)))
        return self

    def _check_options(self):
        if self.metric == "mahalanobis" and self.space != "pca":
            raise ValueError(
                "metric='mahalanobis' needs space='pca': the covariance of all "
                "wavelengths estimated from the library is singular."
            )
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

    def _embed(self, X):
        Z = X if self.pca_ is None else self.pca_.transform(X)
        if self.metric == "correlation":
            Z = Z - Z.mean(axis=1, keepdims=True)
            sd = Z.std(axis=1, keepdims=True)
            Z = Z / np.where(sd > 0, sd, 1.0) / np.sqrt(Z.shape[1])
        return Z

    def _choose_n_neighbors(self, X, Z, Y, candidates):
        rng = check_random_state(self.random_state)
        if self.is_local_.any():
            pool = np.flatnonzero(self.is_local_)
        else:
            pool = np.arange(X.shape[0])
        self.validation_rmse_ = np.full((Y.shape[1], candidates.size), np.nan)
        self.n_neighbors_ = np.zeros(Y.shape[1], int)
        for j in range(Y.shape[1]):
            rows = pool[~np.isnan(Y[pool, j])]
            if rows.size > _N_VALIDATION:
                rows = np.sort(rng.choice(rows, _N_VALIDATION, replace=False))
            if rows.size == 0:
                self.n_neighbors_[j] = candidates[-1]
                continue
            # Each validation row is predicted without itself: ask for one
            # neighbour more and drop it.
            preds = self._predict_target(
                X[rows], Z[rows], j, candidates, exclude=rows
            )
            err = preds - Y[rows, j][:, None]
            self.validation_rmse_[j] = np.sqrt(np.mean(err**2, axis=0))
            self.n_neighbors_[j] = candidates[int(np.argmin(self.validation_rmse_[j]))]

    # -------------------------------------------------------------- predict
    def predict(self, X):
        """Predict each spectrum from a PLS on its nearest library spectra.

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
        Z = self._embed(X)
        out = np.column_stack(
            [
                self._predict_target(X, Z, j, [self.n_neighbors_[j]])[:, 0]
                for j in range(self.library_y_.shape[1])
            ]
        )
        check_finite_predictions(out, type(self).__name__)
        return out[:, 0] if self._single_output else out

    def _predict_target(self, X, Z, j, sizes, exclude=None):
        """Predictions for target ``j`` with each neighbourhood size in ``sizes``.

        ``exclude[i]`` is a library row left out of query ``i``'s
        neighbourhood (nearest-neighbour validation).
        """
        rows, nn = self._indexes[self._target_index[j]]
        k_max = min(int(max(sizes)), rows.size - (exclude is not None))
        n_ask = k_max + (exclude is not None)
        idx = rows[nn.kneighbors(Z, n_neighbors=n_ask, return_distance=False)]
        if exclude is not None:
            idx = _drop_each(idx, exclude, k_max)
        spiked = np.flatnonzero(self.is_local_ & ~np.isnan(self.library_y_[:, j]))
        if not self.spike:
            spiked = spiked[:0]

        def run(start):
            stop = min(start + _CHUNK, X.shape[0])
            block = np.empty((stop - start, len(sizes)))
            for s, size in enumerate(sizes):
                nbr = idx[start:stop, : min(int(size), k_max)]
                if spiked.size:
                    extra = np.broadcast_to(spiked, (nbr.shape[0], spiked.size))
                    if exclude is not None:
                        extra = _drop_each(extra, exclude[start:stop], None)
                    nbr = np.concatenate([nbr, extra], axis=1)
                block[:, s] = self._local_fit(nbr, j, X[start:stop])
            return block

        starts = range(0, X.shape[0], _CHUNK)
        blocks = Parallel(n_jobs=self.n_jobs, prefer="threads")(delayed(run)(s) for s in starts)
        return np.concatenate(blocks, axis=0)

    def _local_fit(self, nbr, j, Xq):
        k = nbr.shape[1]
        lo, hi = self._components
        # A PLS on k centred rows has rank at most k - 1.
        hi = max(1, min(hi, k - 1, Xq.shape[1]))
        lo = min(lo, hi)
        y_hat, x_res, coef_rms = batched_pls1(
            self.library_X_[nbr], self.library_y_[nbr, j], Xq, hi
        )
        if self.local_model == "pls" or lo == hi:
            return y_hat[:, hi - 1]
        w = wapls_weights(x_res[:, lo - 1 : hi], coef_rms[:, lo - 1 : hi])
        return np.einsum("ma,ma->m", w, y_hat[:, lo - 1 : hi])


def _drop_each(idx, exclude, width):
    """Remove ``exclude[i]`` from row ``i`` of ``idx`` (keeping order).

    Rows that do not contain it lose their last entry instead, so that every
    row keeps the same width (``width`` or one less than given).
    """
    hit = idx == np.asarray(exclude)[:, None]
    missing = ~hit.any(axis=1)
    hit[missing, -1] = True
    kept = idx[~hit].reshape(idx.shape[0], idx.shape[1] - 1)
    return kept if width is None else kept[:, :width]
