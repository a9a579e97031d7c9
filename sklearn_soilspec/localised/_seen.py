"""Local rows the source was trained on: how its in-sample errors there are judged.

In the study's setting (one protocol, the local domain inside the library)
the source network saw the local rows, so the out-of-fold errors of every
candidate built on it are in-sample there: a lead that is no evidence. Three
cases, in order (``benchmarks/seen_rows_rule.py``,
``benchmarks/results/notes/combination_rules.md``):

- a library candidate (MBL, spiked PLSR) is weighed: it knows what the
  source's library knows and is scored honestly, so the usual ratio is
  measured from the best candidate not built on the source;
- the source network recorded its own generalisation gap when it was trained
  (its validation RMSE over its training RMSE per property,
  ``training_summary_["rmse"]``): the in-sample residuals of the source-based
  candidates on the seen rows are multiplied by it, and the usual rule weighs
  them as honest ones;
- neither: the local candidates alone cannot tell whether the lead is real,
  and the ratio stays at its widest (1.5x from the best of all), which trusts
  the global model, as the study does.
"""

import warnings

import numpy as np

from . import _combine
from ._recipes import LIBRARY_BASED, SOURCE_BASED

__all__ = []

# A property measured in fewer validation rows than this gets the median gap
# of the source's other properties: the RMSE of a handful of rows is noise.
MIN_VALIDATION_ROWS = 10


def source_gap(final, source_columns, n_targets):
    """Per local property, the source network's validation over training RMSE (at least 1), or None.

    ``final`` is the source's last step, ``source_columns`` maps a local
    column to the source's output column. None where the source recorded no
    errors (not a network, trained without validation rows, or a model file
    written before they were recorded).
    """
    errors = (getattr(final, "training_summary_", None) or {}).get("rmse")
    names = [str(t) for t in (getattr(final, "target_names_", None) or ())]
    if not errors or not names:
        return None

    def ratio(name):
        train = errors.get("training", {}).get(name)
        valid = errors.get("validation", {}).get(name)
        if (train and valid and train > 0
                and errors.get("n_validation", {}).get(name, 0) >= MIN_VALIDATION_ROWS):
            return max(1.0, valid / train)
        return np.nan

    ratios = np.array([ratio(n) for n in names])
    if not np.isfinite(ratios).any():
        return None
    pooled = float(np.nanmedian(ratios))
    gap = np.full(n_targets, np.nan)
    for j, k in source_columns.items():
        gap[j] = ratios[k] if k < len(ratios) and np.isfinite(ratios[k]) else pooled
    return gap


class SeenRows:
    """How the candidates are judged, given the local rows the source saw.

    Parameters
    ----------
    mask : ndarray of bool of shape (n_rows,)
        Local rows the source saw (``LocalisedRegressor.source_seen_``).
    gap : ndarray of shape (n_targets,) or None
        :func:`source_gap`.
    names : list of str
        The candidates.
    """

    def __init__(self, mask, gap, names):
        self.mask = np.asarray(mask, dtype=bool)
        self.names = list(names)
        self.others = [m for m in self.names if m not in SOURCE_BASED]
        self.any = bool(self.mask.any()) and len(self.others) < len(self.names)
        self.judged = self.any and any(m in LIBRARY_BASED for m in self.others)
        self.scaled = self.any and not self.judged and gap is not None
        self.gap = gap

    def basis(self):
        """``(reference, widest)`` of :func:`_combine.weigh`."""
        if self.judged:
            return self.others, False
        return None, self.any and not self.scaled

    def scale(self, P, Y):
        """``P`` with the source-based residuals on the seen rows multiplied by the gap.

        Unchanged unless the gap is what judges the source (``scaled``).
        """
        if not self.scaled:
            return P
        P = P.copy()
        gap = np.where(np.isfinite(self.gap), self.gap, 1.0)
        y = Y[self.mask]
        for i, name in enumerate(self.names):
            if name in SOURCE_BASED:
                p = P[i, self.mask]
                P[i, self.mask] = np.where(np.isnan(y), p, y + gap * (p - y))
        return P

    def interval_residuals(self, members, P, Y, target_names, weighting, margin, W, combined):
        """Per property, the out-of-fold residuals the prediction intervals rest on.

        ``P`` as weighed (:meth:`scale`). Where a gap scaled the source-based
        residuals they are the combination's own. Otherwise, on a seen row,
        the residual is that of the same rule over the candidates not built
        on the source: their combination is no better than the model's on
        new spectra, so the interval errs wide, not narrow
        (``benchmarks/interval_coverage.py``).
        """
        leaning = any((W[i] > 0).any() for i, m in enumerate(self.names) if m in SOURCE_BASED)
        if self.any and leaning and not self.scaled and self.others:
            keep = [self.names.index(m) for m in self.others]
            with warnings.catch_warnings():
                # Already said by the weighing of all candidates.
                warnings.simplefilter("ignore", UserWarning)
                *_, other = _combine.weigh({m: members[m] for m in self.others}, P[keep].copy(),
                                           Y, target_names, weighting, margin,
                                           widest=not self.judged)
            combined = np.where(self.mask[:, None], other, combined)
        elif self.any and leaning and not self.scaled:
            warnings.warn(
                f"Every candidate is built on the source, which saw {int(self.mask.sum())} of "
                "the local rows and recorded no generalisation gap: the prediction intervals "
                "rest on in-sample residuals there and are too narrow. Add a local candidate "
                "(members='auto').", UserWarning, stacklevel=4)
        return [Y[~np.isnan(Y[:, j]), j] - combined[~np.isnan(Y[:, j]), j]
                for j in range(Y.shape[1])]
