"""Fine-tuning that leaves the source only as far as held-out rows support.

A fine-tuned network starts as its source and moves away from it with every
epoch; whether the local rows justify the move, and how far, is a question
for rows the fine-tuning did not see. :func:`select_epochs` answers it per
property by an inner cross-fit: each inner fold trains once, keeping its
weights at every epoch count of a grid (:class:`WeightCheckpoints`), and
predicts its held-out rows at each of them; the options are those epoch
counts (0: the warm-started network before any step, on the local scaling of
a per-domain source) and the source model as it is. A fine-tuned option
replaces the source only when its inner out-of-fold RMSE is lower by a margin
that grows as the rows get fewer, so that on little evidence the member is
the source.
"""

import math
import warnings

import numpy as np
import pandas as pd

from ..neural import SpectralCNNRegressor
from ..neural._callbacks import WeightCheckpoints
from ..transfer._fine_tune import layer_groups
from ._combine import folds

__all__ = []

SOURCE = "source"


class CheckpointedCNN(SpectralCNNRegressor):
    """A :class:`SpectralCNNRegressor` that keeps its weights at ``checkpoint_epochs``.

    Set ``checkpoint_epochs`` on the instance before ``fit``; afterwards
    ``checkpoints_`` maps each epoch count reached to its weights (frozen
    layers left out) and :func:`predict_at` predicts with them. An epoch
    count the run did not reach (early stopping) maps to the final weights.
    """

    checkpoint_epochs = ()

    def _fine_tuning(self, module, source, warm):
        callbacks, param_groups = super()._fine_tuning(module, source, warm)
        frozen = () if self.unfreeze_after is not None else tuple(
            layer_groups(module, self.freeze_layers, self.target_names_))
        callbacks.append(("checkpoints", WeightCheckpoints(self.checkpoint_epochs, frozen)))
        return callbacks, param_groups

    def fit(self, X, y, **kwargs):
        super().fit(X, y, **kwargs)
        recorder = dict(self.net_.callbacks_)["checkpoints"]
        for epoch in self.checkpoint_epochs:
            if int(epoch) not in recorder.states_:
                # max_epochs=0 never starts training; early stopping ends it
                # before the later counts (with the best weights restored).
                recorder.keep(self.net_.module_, epoch)
        self.checkpoints_ = recorder.states_
        return self


def predict_at(estimator, epoch, F):
    """Predictions of a :class:`CheckpointedCNN` with its weights after ``epoch`` epochs."""
    estimator.net_.module_.load_state_dict(estimator.checkpoints_[int(epoch)], strict=False)
    return np.asarray(estimator.predict(F), dtype=np.float64).reshape(len(F), -1)


def train(source_net, F, Y, names, epochs, seed, params):
    """One fine-tuning run of ``source_net`` on ``(F, Y)``, keeping ``epochs``."""
    net = CheckpointedCNN(warm_start_from=source_net, random_state=int(seed), **params)
    net.checkpoint_epochs = tuple(sorted({int(e) for e in epochs}))
    with warnings.catch_warnings():
        # The renamed per-domain option may still warn while both names work.
        warnings.simplefilter("ignore", FutureWarning)
        return net.fit(F, pd.DataFrame(Y, columns=names))


def _rows(F, idx):
    return F.iloc[idx] if hasattr(F, "iloc") else F[idx]


def _rmse(p, y):
    return float(np.sqrt(np.mean((p - y) ** 2)))


def select_epochs(source_net, F, Y, S, names, epochs, inner_cv, margin, seed, params,
                  groups=None):
    """Per property: ``"source"`` or the number of fine-tuning epochs, chosen out of fold.

    Parameters
    ----------
    source_net : fitted SpectralCNNRegressor
    F : array of shape (n, ...)
        The local rows as the network sees them.
    Y : ndarray of shape (n, t)
        Local targets, NaN where not measured.
    S : ndarray of shape (n, t)
        The source model's predictions of the same rows.
    names : list of str
        The network's names of the ``t`` properties.
    epochs : sequence of int
        The epoch counts weighed.
    inner_cv : int
        Inner folds.
    margin : float
        A fine-tuned option replaces the source only if its RMSE is lower by
        more than ``margin / sqrt(n_j)`` of the source's (``n_j``: measured
        rows of the property).
    seed : int
    params : dict
        Parameters of the fine-tuning runs.
    groups : ndarray of shape (n,) or None
        Sample ids: the inner folds hold a sample's scans out together.

    Returns
    -------
    choice : list of ("source" or int)
    table : DataFrame
        Inner out-of-fold RMSE of every option (rows) per property (columns).
    """
    n, t = Y.shape
    epochs = sorted({int(e) for e in epochs})
    P = np.full((len(epochs), n, t), np.nan)
    if groups is not None and np.unique(groups).size < 2:
        groups = None  # one sample's scans: nothing can be held out by sample
    for tr, te in folds(n, inner_cv, seed, groups):
        cols = [j for j in range(t) if np.sum(~np.isnan(Y[tr, j])) >= 2]
        if not cols:
            continue
        try:
            net = train(source_net, _rows(F, tr), Y[tr][:, cols], [names[j] for j in cols], epochs,
                        seed, params)
        except ValueError:
            # A tiny inner fold the network cannot fit (e.g. one batch of one
            # row) leaves these rows without evidence for fine-tuning.
            continue
        for i, e in enumerate(epochs):
            P[i][np.ix_(te, cols)] = predict_at(net, e, _rows(F, te))
    choice, table = [], {}
    for j in range(t):
        ok = ~np.isnan(Y[:, j]) & np.isfinite(P[:, :, j]).all(axis=0) & np.isfinite(S[:, j])
        y = Y[ok, j]
        r_src = _rmse(S[ok, j], y) if ok.sum() else np.nan
        r_ft = [_rmse(P[i, ok, j], y) if ok.sum() else np.nan for i in range(len(epochs))]
        table[names[j]] = [r_src] + r_ft
        pick = SOURCE
        if ok.sum() >= 3 and np.isfinite(r_ft).any():
            i = int(np.nanargmin(r_ft))
            if not np.isfinite(r_src) or r_ft[i] < r_src * (1.0 - margin / math.sqrt(ok.sum())):
                pick = epochs[i]
        choice.append(pick)
    index = [SOURCE] + [f"epoch_{e}" for e in epochs]
    return choice, pd.DataFrame(table, index=index)
