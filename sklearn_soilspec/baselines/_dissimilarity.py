"""Spectral dissimilarities of resemble's ``mbl`` (Ramirez-Lopez et al.).

A :class:`Dissimilarity` is fitted on the library rows (and, for a PLS space
or the ``"opc"`` component choice, their property) and gives dissimilarities
in resemble's units, so that thresholds mean the same as there:

- ``"euclidean"``: ``sqrt(sum((a - b)^2) / n_variables)``;
- ``"mahalanobis"``: the same on scores standardised by their standard
  deviation (principal components are uncorrelated, PLS scores orthogonal,
  so this is the Mahalanobis distance in score space);
- ``"correlation"``: ``(1 - r) / 2``, or with a moving window of ``window``
  variables ``(1 - mean windowed r) / 2``;
- ``"cosine"``: the angle ``arccos(cos)`` between the vectors.

resemble computes its PCA, the centring/scaling of the variables and the
score covariance on the library and the queries together (its PLS on the
library alone); ``fit(X, y, X_extra=queries)`` does the same, ``fit(X, y)``
uses the library alone.
"""

from numbers import Integral

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA

__all__ = ["Dissimilarity", "opc_components"]

# Library rows per block when nearest neighbours of library rows are searched
# (component choice by "opc"): a block of 512 x 20,000 float64 is 80 MB.
_BLOCK = 512


class Dissimilarity:
    """Dissimilarity between spectra, fitted on a library.

    Parameters
    ----------
    space : {"pca", "pls", "spectra"}
    metric : {"mahalanobis", "euclidean", "correlation", "cosine"}
    n_components : int, float in (0, 1), "opc" or "var"
        Components of the PCA/PLS space: a number, the cumulative share of
        spectral variance to keep, resemble's ``ncomp_by_opc`` (the number
        whose nearest library neighbours have the most similar property) or
        ``ncomp_by_var`` (components explaining at least 1 % of the variance
        each).
    max_components : int
        Most components tried by ``"opc"`` and ``"var"`` (resemble's 40).
    center, scale : bool
        Centre / scale every variable (library mean and standard deviation)
        before the dissimilarity (``space="spectra"``) or the projection.
    window : int or None
        Moving-window size of the correlation dissimilarity.
    """

    def __init__(self, space="pca", metric="mahalanobis", n_components=0.99,
                 max_components=40, center=False, scale=False, window=None):
        self.space = space
        self.metric = metric
        self.n_components = n_components
        self.max_components = max_components
        self.center = center
        self.scale = scale
        self.window = window

    def fit(self, X, y=None, X_extra=None):
        """Fit on the library ``X`` (property ``y``), and ``X_extra`` as resemble.

        ``X_extra`` (the queries) joins the library in the centring, scaling,
        PCA and score covariance, as resemble's ``mbl`` does with ``Xu``.
        """
        X = np.asarray(X, dtype=np.float64)
        both = X if X_extra is None else np.vstack([X, np.asarray(X_extra, dtype=np.float64)])
        # resemble's PLS projection centres and scales on the library alone.
        stats = X if self.space == "pls" else both
        self.mean_ = stats.mean(axis=0) if (self.center or self.space != "spectra") else None
        sd = stats.std(axis=0, ddof=1) if self.scale else None
        self.sd_ = None if sd is None else np.where(sd > 0, sd, 1.0)
        self.projection_ = None
        self.n_components_ = None
        if self.space == "pca":
            self._fit_pca(self._standardise(both), X.shape[0], y)
        elif self.space == "pls":
            self._fit_pls(self._standardise(X), y)
        Z = self._project(self._standardise(both))
        self.whitening_ = None
        if self.metric == "mahalanobis":
            Z = Z - Z.mean(axis=0)
            cov = Z.T @ Z / (Z.shape[0] - 1)
            if self.space == "pca":
                # Principal component scores are uncorrelated: divide by sd.
                sd = np.sqrt(np.diag(cov))
                self.whitening_ = np.diag(1.0 / np.where(sd > np.finfo(np.float64).eps, sd, 1.0))
            else:
                # PLS scores of the queries need not be orthogonal to the
                # library's: whiten by the inverse square root of the covariance.
                eig, vec = np.linalg.eigh(cov)
                eig = np.where(eig > np.finfo(np.float64).eps * eig.max(), eig, np.inf)
                self.whitening_ = vec / np.sqrt(eig)
        return self

    # ------------------------------------------------------------ fitting
    def _fit_pca(self, Xs, n_library, y):
        n_comp = self.n_components
        limit = min(Xs.shape)
        if isinstance(n_comp, str):
            pca = PCA(n_components=min(self.max_components, limit), svd_solver="full").fit(Xs)
            if n_comp == "var":
                n_keep = max(1, int(np.sum(pca.explained_variance_ratio_ >= 0.01)))
            else:
                n_keep = opc_components(pca.transform(Xs[:n_library]), y)
        elif isinstance(n_comp, Integral):
            pca = PCA(n_components=min(int(n_comp), limit)).fit(Xs)
            n_keep = pca.n_components_
        else:
            pca = PCA(n_components=float(n_comp), svd_solver="full").fit(Xs)
            n_keep = pca.n_components_
        self.projection_ = ("pca", pca.components_[:n_keep].T)
        self.n_components_ = int(n_keep)
        self.pca_ = pca

    def _fit_pls(self, Xs, y):
        if y is None:
            raise ValueError("A PLS dissimilarity space needs the property y.")
        n_comp = self.n_components
        limit = min(Xs.shape[0] - 1, Xs.shape[1])
        if isinstance(n_comp, str) or not isinstance(n_comp, Integral):
            if not (isinstance(n_comp, str) and n_comp == "opc"):
                raise ValueError(
                    "space='pls' chooses its components by n_pca_components='opc' or takes "
                    f"an int, got {n_comp!r}."
                )
            n_max = min(self.max_components, limit)
        else:
            n_max = min(int(n_comp), limit)
        pls = PLSRegression(n_components=n_max, scale=False).fit(Xs, y)
        rotations = pls.x_rotations_
        if n_comp == "opc":
            n_keep = opc_components(Xs @ rotations, y)
        else:
            n_keep = n_max
        self.projection_ = ("pls", rotations[:, :n_keep])
        self.n_components_ = int(n_keep)

    # ---------------------------------------------------------- embedding
    def _standardise(self, X):
        if self.mean_ is not None:
            X = X - self.mean_
        if self.sd_ is not None:
            X = X / self.sd_
        return X

    def _project(self, Xs):
        return Xs if self.projection_ is None else Xs @ self.projection_[1]

    def embed(self, X):
        """Rows in the space where the dissimilarity is computed."""
        Z = self._project(self._standardise(np.asarray(X, dtype=np.float64)))
        if self.whitening_ is not None:
            Z = Z @ self.whitening_
        if self.metric == "correlation" and self.window is None:
            Z = _row_standardise(Z)
        elif self.metric == "cosine":
            norm = np.linalg.norm(Z, axis=1, keepdims=True)
            Z = Z / np.where(norm > 0, norm, 1.0)
        return Z

    def between(self, Zq, Zr):
        """Dissimilarity of every embedded query (rows) to every library row."""
        if self.metric in ("euclidean", "mahalanobis"):
            d2 = (
                np.einsum("ij,ij->i", Zq, Zq)[:, None]
                + np.einsum("ij,ij->i", Zr, Zr)[None, :]
                - 2.0 * Zq @ Zr.T
            )
            return np.sqrt(np.maximum(d2, 0.0) / Zq.shape[1])
        if self.metric == "cosine":
            return np.arccos(np.clip(Zq @ Zr.T, -1.0, 1.0))
        if self.window is None:
            r = Zq @ Zr.T
        else:
            r = _moving_correlation(Zq, Zr, self.window)
        return np.clip((1.0 - r) / 2.0, 0.0, 1.0)


def _row_standardise(Z):
    """Rows centred and scaled so that their dot product is the correlation."""
    Z = Z - Z.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.where(norm > 0, norm, 1.0)


def _moving_correlation(A, B, window):
    """Mean over all windows of ``window`` variables of the row correlations."""
    n_windows = A.shape[1] - window + 1
    total = np.zeros((A.shape[0], B.shape[0]))
    for s in range(n_windows):
        total += _row_standardise(A[:, s : s + window]) @ _row_standardise(B[:, s : s + window]).T
    return np.clip(total / n_windows, -1.0, 1.0)


def opc_components(scores, y):
    """resemble's ``ncomp_by_opc``: components whose nearest neighbours agree on y.

    For ``a = 1, 2, ...`` components, every library row's nearest other row
    in the standardised scores (Euclidean) is found and the root mean square
    difference of their properties is computed; the ``a`` with the smallest
    one is returned (Ramirez-Lopez et al., 2013, Geoderma 195-196).
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    sd = scores.std(axis=0, ddof=1)
    Z = scores / np.where(sd > np.finfo(np.float64).eps, sd, 1.0)
    n, n_comp = Z.shape
    sq_err = np.zeros(n_comp)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        d2 = np.zeros((stop - start, n))
        rows = np.arange(start, stop)
        for a in range(n_comp):
            d2 += (Z[start:stop, a, None] - Z[None, :, a]) ** 2
            d2[rows - start, rows] = np.inf
            nearest = np.argmin(d2, axis=1)
            sq_err[a] += np.sum((y[start:stop] - y[nearest]) ** 2)
            d2[rows - start, rows] = 0.0
    return int(np.argmin(sq_err)) + 1
