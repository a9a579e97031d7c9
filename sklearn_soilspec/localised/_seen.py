"""Local rows the source was trained on: how its in-sample errors there are judged.

In the study's setting (one protocol, the local domain inside the library)
the source network saw the local rows, so the out-of-fold errors of every
candidate built on it are in-sample there: a lead that is no evidence
(``benchmarks/seen_rows_rule.py``, ``benchmarks/results/notes/combination_rules.md``).

- A library candidate (MBL, spiked PLSR) is weighed: it knows what the
  source's library knows and is scored honestly, so the usual ratio is
  measured from the best candidate not built on the source.
- None is: the local candidates alone cannot tell whether the lead is real,
  and the ratio stays at its widest (1.5x from the best of all), which trusts
  the global model, as the study does. Scaling the in-sample residuals by the
  source's own generalisation gap (its validation over training RMSE, which
  networks record) was tried in the fourth round and lost to this on the set
  it was chosen on.
"""

import warnings

import numpy as np

from . import _combine
from ._recipes import LIBRARY_BASED, SOURCE_BASED

__all__ = []


class SeenRows:
    """How the candidates are judged, given the local rows the source saw.

    Parameters
    ----------
    mask : ndarray of bool of shape (n_rows,)
        Local rows the source saw (``LocalisedRegressor.source_seen_``).
    names : list of str
        The candidates.
    """

    def __init__(self, mask, names):
        self.mask = np.asarray(mask, dtype=bool)
        self.names = list(names)
        self.others = [m for m in self.names if m not in SOURCE_BASED]
        self.any = bool(self.mask.any()) and len(self.others) < len(self.names)
        self.judged = self.any and any(m in LIBRARY_BASED for m in self.others)

    def basis(self):
        """``(reference, widest)`` of :func:`_combine.weigh`."""
        if self.judged:
            return self.others, False
        return None, self.any

    def interval_residuals(self, members, P, Y, target_names, weighting, margin, W, combined):
        """Per property, the out-of-fold residuals the prediction intervals rest on.

        On a seen row, the residual is that of the same rule over the
        candidates not built on the source: their combination is no better
        than the model's on new spectra, so the interval errs wide, not
        narrow (``benchmarks/interval_coverage.py``).
        """
        leaning = any((W[i] > 0).any() for i, m in enumerate(self.names) if m in SOURCE_BASED)
        if self.any and leaning and self.others:
            keep = [self.names.index(m) for m in self.others]
            with warnings.catch_warnings():
                # Already said by the weighing of all candidates.
                warnings.simplefilter("ignore", UserWarning)
                *_, other = _combine.weigh({m: members[m] for m in self.others}, P[keep].copy(),
                                           Y, target_names, weighting, margin,
                                           widest=not self.judged)
            combined = np.where(self.mask[:, None], other, combined)
        elif self.any and leaning:
            warnings.warn(
                f"Every candidate is built on the source, which saw {int(self.mask.sum())} of "
                "the local rows: the prediction intervals rest on in-sample residuals there and "
                "are too narrow. Add a local candidate (members='auto').", UserWarning,
                stacklevel=4)
        return [Y[~np.isnan(Y[:, j]), j] - combined[~np.isnan(Y[:, j]), j]
                for j in range(Y.shape[1])]
