"""Out-of-fold predictions, the per-property choice of weights, and conformal quantiles."""

import math
import time
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy.optimize import nnls
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold

from ..ensemble import cross_fit

__all__ = []

# A member whose out-of-fold RMSE exceeds the best one's by this factor gets
# no weight: blending in a model 1.5 times worse than the best rarely helps,
# and on a few dozen rows "rarely" is not worth the risk.
EXCLUDE_RATIO = 1.5
# weighting="equal" weighs alike the candidates within
# min(EXCLUDE_RATIO, 1 + NARROWING / sqrt(n)) of the best: an out-of-fold RMSE
# on n rows has a relative standard error near 1 / sqrt(2 n), so on ten rows
# the candidates within 1.5x are indistinguishable from the best, while on a
# thousand a candidate 7 % behind is worse, and averaging it in costs. Chosen
# on inner folds of the training rows (benchmarks/combination_rules.py
# --inner), from c = 1, 2, 3.
NARROWING = 2.0
# Out-of-fold predictions beyond this many target ranges from the local
# targets are not a model of them (a per-domain scaling fitted on three rows,
# a network that diverged): the member is dropped for that property.
SANE_SPANS = 3.0


def folds(n, cv, random_state, groups=None):
    """Shuffled K-fold with K = min(cv, n); with ``groups``, K = min(cv, n_groups) by group.

    Rows of one group (replicate scans of a sample, the cores of one field)
    are held out together: split apart, a held-out scan would be predicted
    by a model that saw its twin, and every local model would look as good
    as a lookup table.
    """
    if groups is None:
        k = max(2, min(int(cv), n))
        return [(tr, te) for tr, te in KFold(k, shuffle=True, random_state=random_state).split(
            np.arange(n))]
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(
            f"groups holds {n_groups} distinct value(s): cross-fitting by groups needs at "
            "least 2 (one id per sample, its replicate scans sharing it); pass groups=None "
            "if every row is its own sample.")
    k = min(int(cv), n_groups)
    splitter = GroupKFold(k, shuffle=True, random_state=random_state)
    return [(tr, te) for tr, te in splitter.split(np.arange(n), groups=groups)]


# Members in order of their usual cost (LimeSoDa vis-NIR, ~100 local rows, a
# ~1,100-spectrum library): the fine-tuning runs and the Gaussian processes'
# hyper-parameter searches take most of the time, so they are dispatched
# first and the cheap members fill the gaps of the other workers.
_COST_ORDER = ("fine_tuned", "gpr_d2", "gpr", "spiked_plsr", "mbl", "plsr",
               "source_corrected", "source", "mean")


# loky replaces a worker whose memory grew (torch's allocator after a
# fine-tuning run) between tasks and says so; nothing is lost.
_WORKER_REPLACED = "A worker stopped while some jobs"


def cross_fit_members(estimators, X, Y, splits, n_jobs=None, groups=None, say=None):
    """``(predictions, fold_models, failures)`` of the members over ``splits``.

    :func:`sklearn_soilspec.ensemble.cross_fit`: a fold fit that fails
    leaves NaN in its rows and is reported with a ``FitFailedWarning``.
    With ``n_jobs``, one joblib task per member (all its folds): the
    members are independent and seed themselves, so the results are those
    of the sequential run; the warnings of the workers are raised again
    here and the fitted members share the source and library again.
    ``say`` (a print function or None) is told of each member as it ends.
    """
    if effective_n_jobs(n_jobs) == 1 or len(estimators) < 2:
        # Member by member (the results do not depend on the order), so
        # that a long fit can say how far it is.
        P, fold_models, failures = [], {}, {}
        for i, (name, member) in enumerate(estimators):
            t0 = time.perf_counter()
            res = cross_fit([(name, member)], X, Y, cv=splits,
                            fit_params=_group_params([(name, member)], groups))
            P.append(res.predictions_[0])
            fold_models[name], failures[name] = res.fold_models[name], res.failures[name]
            if say is not None:
                say(f"  [{i + 1}/{len(estimators)}] {name}: {len(splits)} folds in "
                    f"{time.perf_counter() - t0:.1f} s")
        return np.stack(P), fold_models, failures
    rank = {name: i for i, name in enumerate(_COST_ORDER)}
    order = sorted(range(len(estimators)),
                   key=lambda i: rank.get(estimators[i][0], len(rank)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_WORKER_REPLACED, category=UserWarning)
        done = Parallel(n_jobs=n_jobs, prefer="processes")(
            delayed(_cross_fit_one)(*estimators[i], X, Y, splits, groups) for i in order)
    P = np.empty((len(estimators),) + done[0][0].shape)
    fold_models, failures = {}, {}
    for k, (i, (pred, models, failed, caught, seconds)) in enumerate(zip(order, done)):
        name, member = estimators[i]
        _rewarn(caught)
        if say is not None:
            say(f"  [{k + 1}/{len(estimators)}] {name}: {len(splits)} folds in {seconds:.1f} s "
                "(in a worker)")
        P[i] = pred
        fold_models[name] = [reshare(m, member) for m in models]
        failures[name] = failed
    names = [name for name, _ in estimators]
    return P, {n: fold_models[n] for n in names}, {n: failures[n] for n in names}


def refit_members(members, X, Y, n_jobs=None, groups=None):
    """Each of ``members`` (name -> unfitted member) cloned and fitted on all rows."""
    names = list(members)
    if effective_n_jobs(n_jobs) == 1 or len(names) < 2:
        return {name: clone(members[name]).fit(X, Y, groups=groups) for name in names}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_WORKER_REPLACED, category=UserWarning)
        done = Parallel(n_jobs=n_jobs, prefer="processes")(
            delayed(_fit_one)(clone(members[name]), X, Y, groups) for name in names)
    out = {}
    for name, (fitted, caught) in zip(names, done):
        _rewarn(caught)
        out[name] = reshare(fitted, members[name])
    return out


def reshare(fitted, member):
    """Point a member that came back from a worker at the caller's source and library.

    A worker gets and returns copies; a member's ``_shared`` parameters (the
    source model's view, the library) and the warm start of its fine-tuned
    networks are the caller's objects again, so that a fitted model holds
    one source and one library, as it does after a sequential fit.
    """
    if fitted is member:
        return fitted
    for attr in getattr(type(member), "_shared", ()):
        setattr(fitted, attr, getattr(member, attr))
    view = getattr(member, "view", None)
    final = getattr(view, "final", None)
    for est in getattr(fitted, "estimators_", None) or ():
        if final is not None and getattr(est, "warm_start_from", None) is not None:
            est.warm_start_from = final
    return fitted


def _group_params(estimators, groups):
    # Members tune themselves by inner folds (PLSR's components, the
    # fine-tuning's epochs): those folds keep a sample's scans together too.
    return None if groups is None else {name: {"groups": groups} for name, _ in estimators}


def _cross_fit_one(name, member, X, Y, splits, groups=None):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = cross_fit([(name, member)], X, Y, cv=splits,
                        fit_params=_group_params([(name, member)], groups))
    return (res.predictions_[0], res.fold_models[name], res.failures[name],
            [(w.category, str(w.message)) for w in caught], time.perf_counter() - t0)


def _fit_one(member, X, Y, groups=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = member.fit(X, Y, groups=groups)
    return fitted, [(w.category, str(w.message)) for w in caught]


def _rewarn(caught):
    # The caller's filters decide (a worker records every warning): shown
    # once, ignored or raised as they would be in a sequential fit.
    for category, message in caught:
        warnings.warn(message, category, stacklevel=4)


def screen(P, y, applies, names, prop, bounds):
    """``(status, rmse)`` of each member for one property: may it be weighed, its out-of-fold RMSE.

    ``P`` (members x measured rows) are the out-of-fold predictions, ``bounds``
    ``(lo, hi, span)`` of the local values. A member that failed in a fold,
    or whose predictions are not finite or beyond ``SANE_SPANS`` spans of the
    local values, gets a status saying so and a NaN RMSE; the last two with a
    warning (the failures were warned about by the cross-fit).
    """
    lo, hi, span = bounds
    status, rmse = [], np.full(len(names), np.nan)
    for i, name in enumerate(names):
        if not applies[i]:
            status.append("not applicable")
        elif np.isnan(P[i]).all():
            status.append("failed")
        elif np.isnan(P[i]).any():
            status.append("failed in some folds")
        elif not np.isfinite(P[i]).all():
            status.append("dropped: non-finite predictions")
        elif (P[i] < lo - SANE_SPANS * span).any() or (P[i] > hi + SANE_SPANS * span).any():
            status.append("dropped: implausible predictions")
        else:
            status.append("ok")
        if status[-1] == "ok":
            rmse[i] = float(np.sqrt(np.mean((P[i] - y) ** 2)))
        if status[-1].startswith("dropped"):
            warnings.warn(
                f"Candidate {name!r} is left out for {prop!r}: its out-of-fold "
                f"predictions are {status[-1].split(': ')[1]} (local {prop} spans "
                f"{lo:g} to {hi:g} on {len(y)} rows).", UserWarning, stacklevel=4)
    return status, rmse


def option_grid(P, y, eligible, names, n, margin):
    """Choose the weights of one property from its out-of-fold predictions.

    Parameters
    ----------
    P : ndarray of shape (n_members, n_rows)
        Out-of-fold predictions on the rows where the property was measured.
    y : ndarray of shape (n_rows,)
    eligible : ndarray of bool of shape (n_members,)
        Members that may get weight (finite, plausible, not far behind the best).
    names : list of str
    n : int
        Rows the choice rests on.
    margin : float
        Complexity margin: the best option of tier ``k`` (0 one member, 1 an
        equal blend, 2 free non-negative weights) replaces the option chosen
        so far, of tier ``j < k``, only if its RMSE is lower by more than
        ``(k - j) * margin / sqrt(n)`` of that option's.

    Returns
    -------
    weights : ndarray of shape (n_members,)
    label : str
    rmse : float
        Out-of-fold RMSE of the chosen combination (optimistic: chosen on it;
        for free weights, with the weights cross-validated too).
    """
    m = P.shape[0]
    idx = np.flatnonzero(eligible)

    def rmse(w):
        return float(np.sqrt(np.mean((w @ P - y) ** 2)))

    options = []  # (tier, weights, label)
    for i in idx:
        w = np.zeros(m)
        w[i] = 1.0
        options.append((0, w, names[i]))
    ranked = idx[np.argsort([rmse(np.eye(m)[i]) for i in idx])]
    for k in range(2, min(4, len(ranked)) + 1):
        w = np.zeros(m)
        w[ranked[:k]] = 1.0 / k
        options.append((1, w, "equal(" + "+".join(names[i] for i in ranked[:k]) + ")"))
    free_rmse = None
    if len(idx) >= 2:
        w = np.zeros(m)
        w[idx] = _simplex_weights(P[idx], y)
        if w.sum() > 0:
            label = "weights(" + "+".join(f"{w[i]:.2f} {names[i]}" for i in idx if w[i] > 0) + ")"
            options.append((2, w, label))
            # Free weights are fitted to these very rows: on ten rows they
            # find chance cancellations between members' errors (an RMSE 40 %
            # below every member's, and far worse on new rows). So they are
            # scored with the weights themselves cross-validated: fitted
            # without each fold's rows, then used to predict them.
            free_rmse = _cross_validated_rmse(P[idx], y)
    best = None
    step = margin / math.sqrt(max(n, 1))
    for tier in (0, 1, 2):
        tiered = [(free_rmse if t == 2 else rmse(w), w, label)
                  for t, w, label in options if t == tier]
        if not tiered:
            continue
        r, w, label = min(tiered, key=lambda o: o[0])
        if best is None or r < best[0] * (1.0 - (tier - best[3]) * step):
            best = (r, w, label, tier)
    return best[1], best[2], best[0]


def equal_ratio(n):
    """The ratio to the best out-of-fold RMSE within which candidates weigh alike, on ``n`` rows."""
    return min(EXCLUDE_RATIO, 1.0 + NARROWING / math.sqrt(max(n, 1)))


def equal_weights(P, y, eligible, names):
    """Equal weights on every eligible member: ``(weights, label, rmse)`` as :func:`option_grid`.

    The rule ``LocalisedRegressor`` uses by default (the caller makes
    eligible the members within :func:`equal_ratio` of the best): no choice
    among blends, so no search for chance to flatter, and the average of
    models whose errors differ is better than its members more often than any
    one of them is best.
    """
    idx = np.flatnonzero(eligible)
    idx = idx[np.argsort([np.mean((P[i] - y) ** 2) for i in idx])]
    w = np.zeros(P.shape[0])
    w[idx] = 1.0 / len(idx)
    label = names[idx[0]] if len(idx) == 1 else "equal(" + "+".join(names[i] for i in idx) + ")"
    return w, label, float(np.sqrt(np.mean((w @ P - y) ** 2)))


def _simplex_weights(P, y):
    """Non-negative weights summing to one (zeros if none fit): NNLS with a heavy row of ones."""
    lam = 1e3 * max(float(np.std(y)), 1e-12) * math.sqrt(len(y))
    A = np.vstack([P.T, np.full((1, P.shape[0]), lam)])
    sol, _ = nnls(A, np.r_[y, lam])
    return sol / sol.sum() if sol.sum() > 0 else sol


def _cross_validated_rmse(P, y, k=5):
    """RMSE of free weights on rows they were not fitted on (K-fold over the rows)."""
    pred = np.empty_like(y, dtype=np.float64)
    for tr, te in folds(len(y), k, 0):
        w = _simplex_weights(P[:, tr], y[tr])
        if w.sum() == 0:
            w = np.full(P.shape[0], 1.0 / P.shape[0])
        pred[te] = w @ P[:, te]
    return float(np.sqrt(np.mean((pred - y) ** 2)))


REPORT_COLUMNS = ["property", "candidate", "oof_rmse", "weight", "n_rows", "status", "option",
                  "vs_source_pct", "vs_plsr_pct"]


def weigh(members, P, Y, target_names, weighting, margin, widest=False, reference=None):
    """The weights of every property: ``(W, ranges, report_rows, combined)``.

    ``P`` (members x rows x properties) are the out-of-fold predictions,
    ``Y`` the local targets (NaN where not measured). Per property the
    members are screened (:func:`screen`), those beyond the ratio to the
    best get no weight (:func:`equal_ratio` for ``weighting="equal"``, or
    ``EXCLUDE_RATIO`` with ``widest`` or ``"select"``), and the rule sets
    the weights. ``ranges`` are the clip ranges of the predictions,
    ``combined`` the out-of-fold predictions of the weighted model.
    ``reference`` (names): where given, the ratio is measured from the best
    of these members, not of all (those whose out-of-fold error is honest).
    """
    names = list(members)
    n, t = Y.shape
    W = np.zeros((len(names), t))
    ranges = {}
    rows, combined = [], np.full((n, t), np.nan)
    for j, prop in enumerate(target_names):
        measured = ~np.isnan(Y[:, j])
        y = Y[measured, j]
        lo, hi = float(y.min()), float(y.max())
        span = max(hi - lo, 1e-9 * max(1.0, abs(hi)), float(np.std(y)))
        Pj = P[:, measured, j]
        applies = [members[m].columns is None or j in members[m].columns for m in names]
        status, rmse = screen(Pj, y, applies, names, prop, (lo, hi, span))
        ok = ~np.isnan(rmse)
        if not ok.any():
            if "mean" not in names:
                raise ValueError(
                    f"No candidate could predict {prop!r} from its {measured.sum()} "
                    "measured local row(s): include 'mean' in members, or measure it on "
                    "more samples.")
            # One or two measured rows leave every fold without data for
            # some candidate: the local mean is all that can be said.
            warnings.warn(
                f"No candidate could be validated for {prop!r} on its {measured.sum()} "
                "measured local row(s); it is predicted by its local mean.", UserWarning,
                stacklevel=4)
            ok = np.array([name == "mean" for name in names])
            i = names.index("mean")
            P[i, :, j] = np.where(np.isnan(P[i, :, j]), y.mean(), P[i, :, j])
            Pj = P[:, measured, j]
            rmse[ok] = np.sqrt(np.mean((y - y.mean()) ** 2))
            status[i] = "ok: no other candidate"
        best = np.nanmin(rmse)
        honest = ok & np.isin(names, list(reference or ()))
        if reference is not None and honest.any():
            best = np.nanmin(rmse[honest])
        narrow = weighting == "equal" and not widest
        ratio = equal_ratio(int(measured.sum())) if narrow else EXCLUDE_RATIO
        eligible = ok & (rmse <= ratio * best)
        for i in np.flatnonzero(ok & ~eligible):
            status[i] = f"no weight: > {ratio:.3g}x best"
        if weighting == "equal":
            w, label, r = equal_weights(np.nan_to_num(Pj), y, eligible, names)
        else:
            w, label, r = option_grid(np.nan_to_num(Pj), y, eligible, names,
                                      int(measured.sum()), margin)
        W[:, j] = w
        combined[:, j] = np.where(np.isnan(P[:, :, j]), 0.0, P[:, :, j]).T @ w
        for i, name in enumerate(names):
            rows.append(dict(property=prop, candidate=name, oof_rmse=rmse[i],
                             weight=w[i], n_rows=int(measured.sum()), status=status[i]))
        ref = {k: rmse[names.index(k)] if k in names else np.nan
               for k in ("source", "plsr")}
        rows.append(dict(property=prop, candidate="localised", oof_rmse=r, weight=1.0,
                         n_rows=int(measured.sum()), status="ok", option=label,
                         vs_source_pct=100.0 * (r / ref["source"] - 1.0),
                         vs_plsr_pct=100.0 * (r / ref["plsr"] - 1.0)))
        ranges[j] = (lo - SANE_SPANS * span, hi + SANE_SPANS * span)
    return W, ranges, rows, combined


def conformal_quantile(residuals, alpha):
    """Split-conformal quantile: the ceil((n+1)(1-alpha))-th smallest |residual|.

    Infinite when ``n`` is too small for the coverage asked
    (``ceil((n+1)(1-alpha)) > n``).
    """
    r = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)))
    n = r.size
    k = math.ceil((n + 1) * (1.0 - alpha))
    if n == 0 or k > n:
        return np.inf
    return float(r[max(k, 1) - 1])

