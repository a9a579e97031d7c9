"""Neighbourhoods of resemble's ``mbl`` and the local models fitted on them.

For a batch of queries: the dissimilarity to every searchable library row,
the nearest ones (by number, ``neighbors_k``, or under a dissimilarity
threshold bounded by ``k_min``/``k_max``, ``neighbors_diss``), the spiked
rows added, the dissimilarities used as weights or as extra predictors
(``diss_usage``), the local (WA-)PLS prediction and the leave-nearest-
neighbour-out validation (``NNv``) of every candidate neighbourhood.
"""

from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed

from ._local_cv import local_cv_predict
from ._local_fit import local_predict

__all__ = [
    "LocalSettings", "candidate_array", "neighbourhood_predictions", "validation_table",
]

# Float64 elements of one stacked batch of neighbourhoods (queries x
# neighbours x predictors): 8 MB, bounded whatever the number of queries and
# small enough to stay in cache through the passes of every NIPALS component
# (larger batches run about twice slower per query).
_BATCH_ELEMENTS = 1_000_000
_MAX_BATCH = 256


@dataclass
class LocalSettings:
    """What the local models are, as resemble's ``fit_*`` and ``mbl`` options."""

    model: str  # "wapls" or "pls"
    components: tuple  # (min, max)
    modified: bool  # modified PLS ("mpls")
    scale: bool
    clip: bool  # range_prediction_limits
    diss_usage: str  # "none", "weights" or "predictors"
    local_cv: tuple = None  # (number, p) of resemble's local_cv, tuning components
    seed: int = 0


def neighbourhood_predictions(
    Xq, Zq, search, library_X, library_y, candidates, by_threshold, k_bounds,
    settings, spiked=None, exclude=None, nnv=False, n_jobs=None,
):
    """Local predictions of every query for every candidate neighbourhood.

    Parameters
    ----------
    Xq, Zq : ndarray of shape (m, p) and (m, d)
        Queries and their embedding in the dissimilarity space.
    search : tuple (rows, Zr, dissimilarity)
        Searchable library rows, their embedding, and the fitted
        :class:`~._dissimilarity.Dissimilarity`.
    library_X, library_y : ndarray of shape (n, p) and (n,)
    candidates : sequence of int or float
        Neighbourhood sizes or dissimilarity thresholds.
    by_threshold : bool
    k_bounds : (int, int)
        ``k_min``, ``k_max`` of threshold neighbourhoods.
    settings : LocalSettings
    spiked : tuple (rows, Z) or None
        Rows added to every neighbourhood, with their embedding.
    exclude : ndarray of shape (m,) or None
        Library row left out of query ``i``'s neighbourhood (the query itself
        when library rows validate the choice of candidate).
    nnv : bool
        Also return the NNv predictions.

    Returns
    -------
    pred : ndarray of shape (m, n_candidates)
    nnv_pred, nnv_true : ndarray of shape (m, n_candidates), or None
        Prediction and value of each query's nearest neighbour when it is
        left out of the neighbourhood (``nnv=True``).
    bounded : ndarray of bool of shape (m, n_candidates)
        Threshold neighbourhoods whose size was reset to ``k_min``/``k_max``.
    local_rmse : ndarray of shape (m, n_candidates), or None
        Local cross-validation RMSE of every neighbourhood (``local_cv``).
    """
    rows, Zr, diss = search
    n_search = rows.size - (exclude is not None)
    if by_threshold:
        k_top = min(k_bounds[1], n_search)
    else:
        k_top = min(int(max(candidates)), n_search)
    n_spiked = 0 if spiked is None else spiked[0].size
    width = k_top + n_spiked
    n_pred = library_X.shape[1] + (width if settings.diss_usage == "predictors" else 0)
    batch = int(max(1, min(_MAX_BATCH, _BATCH_ELEMENTS // max(1, width * n_pred))))
    position = None
    if exclude is not None:
        position = np.full(library_X.shape[0], -1)
        position[rows] = np.arange(rows.size)

    def run(start):
        stop = min(start + batch, Xq.shape[0])
        D = diss.between(Zq[start:stop], Zr)
        if exclude is not None:
            own = position[exclude[start:stop]]
            hit = own >= 0
            D[np.flatnonzero(hit), own[hit]] = np.inf
        part = np.argpartition(D, k_top - 1, axis=1)[:, :k_top] if k_top < D.shape[1] else (
            np.broadcast_to(np.arange(D.shape[1]), D.shape).copy())
        d_top = np.take_along_axis(D, part, axis=1)
        order = np.lexsort((part, d_top), axis=1)
        local_idx = np.take_along_axis(part, order, axis=1)
        d_nbr = np.take_along_axis(d_top, order, axis=1)
        idx = rows[local_idx]
        if n_spiked:
            d_spk = diss.between(Zq[start:stop], spiked[1])
            spk = np.broadcast_to(spiked[0], (stop - start, n_spiked))
            idx = np.concatenate([idx, spk], axis=1)
            d_nbr = np.concatenate([d_nbr, d_spk], axis=1)
            if exclude is not None:
                # A spiked row validating the choice is not its own neighbour.
                own_spk = idx[:, k_top:] == exclude[start:stop, None]
        out = np.empty((stop - start, len(candidates)))
        out_nnv = np.empty_like(out) if nnv else None
        out_true = np.empty_like(out) if nnv else None
        out_cv = np.empty_like(out) if settings.local_cv else None
        bounded = np.zeros(out.shape, bool)
        rng = np.random.default_rng([settings.seed, start])
        for c, cand in enumerate(candidates):
            if by_threshold:
                count = np.sum(d_nbr[:, :k_top] < cand, axis=1)
                k_i = np.clip(count, k_bounds[0], k_top)
                bounded[:, c] = (count <= k_bounds[0]) | (count >= k_bounds[1])
            else:
                k_i = np.full(stop - start, min(int(cand), k_top))
            mask = np.zeros(idx.shape, bool)
            mask[:, :k_top] = np.arange(k_top)[None, :] < k_i[:, None]
            if n_spiked:
                mask[:, k_top:] = True
                if exclude is not None:
                    mask[:, k_top:] &= ~own_spk
            preds = _fit_block(Xq[start:stop], idx, d_nbr, mask, library_X, library_y,
                               settings, diss, nnv, rng)
            out[:, c] = preds[0]
            if settings.local_cv:
                out_cv[:, c] = preds[-1]
            if nnv:
                out_nnv[:, c], out_true[:, c] = preds[1], preds[2]
        return out, out_nnv, out_true, bounded, out_cv

    starts = range(0, Xq.shape[0], batch)
    blocks = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(run)(s) for s in starts)
    stacked = [None if blocks[0][i] is None else np.concatenate([b[i] for b in blocks], axis=0)
               for i in range(5)]
    return tuple(stacked)


def _fit_block(Xq, idx, d_nbr, mask, library_X, library_y, settings, diss, nnv, rng):
    """Local predictions for one batch of queries and one candidate."""
    Xn = library_X[idx]
    yn = library_y[idx]
    xq = Xq[:, None, :]
    if settings.diss_usage == "predictors":
        # resemble's dissimilarity predictors: the neighbours' dissimilarities
        # to one another (k columns) beside their spectra, the query's
        # dissimilarities to them beside its spectrum. Columns and rows of
        # rows outside a smaller neighbourhood are zero.
        Zn = diss.embed(Xn.reshape(-1, Xn.shape[2])).reshape(Xn.shape[0], Xn.shape[1], -1)
        Dn = np.stack([diss.between(z, z) for z in Zn])
        Dn *= mask[:, :, None] & mask[:, None, :]
        Xn = np.concatenate([Dn, Xn], axis=2)
        xq = np.concatenate([(d_nbr * mask)[:, None, :], xq], axis=2)
    lo, hi = settings.components
    n_min = int(mask.sum(axis=1).min())
    # A PLS on n centred rows has rank at most n - 1.
    hi_fit = max(1, min(hi, n_min - 1, Xn.shape[2]))
    comps = (min(lo, hi_fit), hi_fit)
    Xfit, yfit = Xn, yn
    if settings.diss_usage == "weights":
        # Tricube weights of the dissimilarity (Cleveland and Devlin, 1988;
        # Naes and Isaksson, 1990), applied as resemble does: rows of X and y
        # multiplied by them before the fit.
        d_max = np.max(np.where(mask, d_nbr, -np.inf), axis=1, keepdims=True)
        ratio = d_nbr / np.where(d_max > 0, d_max, 1.0)
        weight = (1.0 - np.clip(ratio, 0.0, 1.0) ** 3) ** 3
        weight[weight == 0] = 1e-4
        Xfit, yfit = Xn * weight[:, :, None], yn * weight
    kw = dict(model=settings.model, scale=settings.scale, modified=settings.modified,
              clip=settings.clip)
    extra = ()
    if settings.local_cv:
        number, share = settings.local_cv
        pred, cv_rmse = local_cv_predict(Xfit, yfit, xq, comps, mask=mask, number=number,
                                         p=share, rng=rng, **kw)
        extra = (cv_rmse,)
    else:
        pred = local_predict(Xfit, yfit, xq, comps, mask=mask, **kw)[:, 0]
    if not nnv:
        return (pred,) + extra
    # NNv: the nearest neighbour (first column) left out and predicted by the
    # model of the others, unweighted, as resemble does.
    mask_nn = mask.copy()
    mask_nn[:, 0] = False
    hi_nn = max(1, min(hi, n_min - 2, Xn.shape[2]))
    comps_nn = (min(lo, hi_nn), hi_nn)
    nn_pred = local_predict(Xn, yn, Xn[:, :1, :], comps_nn, mask=mask_nn, **kw)[:, 0]
    if settings.diss_usage == "weights":
        nn_pred = nn_pred / weight[:, 0]
    return (pred, nn_pred, yn[:, 0]) + extra


def validation_table(candidates, pred, nn_pred, nn_true, bounded, local_rmse, by):
    """resemble's validation summary of every candidate (see ``validate``)."""
    err = nn_pred - nn_true
    rmse = np.sqrt(np.mean(err**2, axis=0))
    spread = np.ptp(nn_true[:, 0])
    table = {
        "candidates": candidates,
        "nnv_rmse": rmse,
        "nnv_st_rmse": rmse / spread if spread > 0 else np.full_like(rmse, np.nan),
        "nnv_r2": np.array([squared_correlation(p, nn_true[:, 0]) for p in nn_pred.T]),
        "p_bounded": bounded.mean(axis=0),
        "predictions": pred,
    }
    if local_rmse is not None:
        table["local_cv_rmse"] = local_rmse.mean(axis=0)
    table["best"] = int(np.argmin(table["local_cv_rmse" if by == "local_cv" else "nnv_rmse"]))
    return table


def squared_correlation(a, b):
    """Squared correlation, as resemble reports it (NaN for a constant)."""
    if np.std(a) == 0 or np.std(b) == 0:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def candidate_array(n_neighbors, diss_threshold):
    """The sorted candidate sizes or thresholds, checked."""
    if diss_threshold is not None:
        cand = np.atleast_1d(np.asarray(diss_threshold, dtype=float))
        if cand.ndim != 1 or cand.size == 0 or not np.all(cand > 0):
            raise ValueError(
                "diss_threshold must be a positive number or a list of them, got "
                f"{diss_threshold!r}."
            )
        return np.sort(np.unique(cand))
    cand = np.atleast_1d(np.asarray(n_neighbors))
    if cand.ndim != 1 or cand.size == 0 or not np.issubdtype(
        cand.dtype, np.integer
    ) or (cand < 2).any():
        raise ValueError(
            f"n_neighbors must be an int >= 2 or a list of them, got {n_neighbors!r}."
        )
    return np.sort(np.unique(cand))
