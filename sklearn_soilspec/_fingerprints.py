"""Row fingerprints: which spectra a model was trained on, without keeping the spectra."""

import hashlib

import numpy as np

__all__ = []


# Fingerprints rest on this many random projections of each row, rounded
# to 1e-3 of the row's largest value. Rounding every value of a row would
# let float32 against float64 arithmetic (a network's training input, a
# local spectrum through the same preprocessing) flip one of hundreds of
# values across a rounding edge; a few sums of them rarely do (about one
# row in a thousand), and two soils' spectra differ by far more than 1e-3.
_PROJECTIONS = 16
_QUANTUM = 1e-3


def row_fingerprints(X, block=4096):
    """One 64-bit fingerprint per row of ``X`` (any shape after the first axis).

    The same spectrum through the same preprocessing gives the same
    fingerprint although floating-point sums differ in the last bits; a
    spectrum cannot be recovered from it. ``block`` rows at a time, so a
    LUCAS-size library costs no full copy.
    """
    X = np.asarray(X)
    X = X.reshape(len(X), -1)
    signs = np.random.default_rng(X.shape[1]).choice([-1.0, 1.0], size=(X.shape[1], _PROJECTIONS))
    signs /= np.sqrt(max(X.shape[1], 1))
    out = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), block):
        F = X[start:start + block].astype(np.float64)
        scale = np.abs(F).max(axis=1, keepdims=True)
        q = np.round((F / np.where(scale > 0, scale, 1.0)) @ signs / _QUANTUM).astype(np.int64)
        out[start:start + len(q)] = [
            int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little",
                           signed=True) for r in q]
    return out


def seen_rows(fingerprints, X):
    """Mask of the rows of ``X`` whose fingerprint is among ``fingerprints``."""
    if fingerprints is None or len(X) == 0:
        return np.zeros(len(X), dtype=bool)
    return np.isin(row_fingerprints(X), np.asarray(fingerprints))
