"""Which rows of a library are local: shared by the spiking baselines."""

import numpy as np

__all__ = ["check_finite_predictions", "check_magnitude", "local_rows"]

# Spectra (reflectance, absorbance, their derivatives) lie far inside this
# range; beyond it the squares and products of PLS and PCA underflow to zero
# or overflow to infinity, and the models answer NaN or divide by zero.
_MAGNITUDE = (1e-30, 1e30)


def check_magnitude(X, estimator_name, what="spectra"):
    """Raise if the largest absolute value of ``X`` is outside the safe range.

    ``what="targets"`` checks soil properties instead (NaN for not measured).
    """
    finite = X[~np.isnan(X)] if what == "targets" else X
    if finite.size == 0:
        return
    largest = float(np.max(np.abs(finite)))
    if largest > _MAGNITUDE[1] or 0 < largest < _MAGNITUDE[0]:
        kind = ("Spectra are reflectance, absorbance or their derivatives: check the "
                "units, or rescale X (e.g. StandardScaler in a Pipeline)."
                if what == "spectra" else
                "Soil properties are percentages, concentrations or pH: check the units, "
                "or rescale y.")
        raise ValueError(
            f"{estimator_name}: the {what} reach at most {largest:.3g} in absolute "
            f"value, outside {_MAGNITUDE[0]:g} to {_MAGNITUDE[1]:g}, where the squares "
            f"of the model's least squares under- or overflow. {kind}"
        )


def check_finite_predictions(Y, estimator_name):
    """Raise if predictions from finite, checked spectra are NaN or infinite.

    Fitted from validated data, the models cannot give these; a fitted
    attribute edited or loaded from a damaged file can, and the NaN would
    otherwise travel on into every score and table.
    """
    bad = ~np.isfinite(Y)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
        raise ValueError(
            f"{estimator_name} predicts NaN or infinity for {rows.size} finite spectra "
            f"(first at row {rows[0]}): its fitted attributes were changed or damaged "
            "after fit. Refit the model (or load it again from a good file)."
        )
    return Y


def local_rows(n_samples, groups=None, is_local=None, local_domain=None):
    """Boolean mask of the local rows, or None when nothing marks them.

    ``is_local`` wins; otherwise the rows whose group equals ``local_domain``
    (or is in it, for a list of domains) are local.
    """
    if is_local is not None:
        mask = np.asarray(is_local)
        if mask.dtype != bool or mask.shape != (n_samples,):
            raise ValueError(
                f"is_local must be a boolean array with one entry per row ({n_samples}), "
                f"got dtype {mask.dtype} and shape {mask.shape}."
            )
        return mask
    if local_domain is None:
        return None
    if groups is None:
        raise ValueError(
            f"local_domain={local_domain!r} needs the domain of every row: pass groups= to "
            "fit (inside cross_val_score: params={'groups': groups}), or is_local=."
        )
    groups = np.asarray(groups)
    if groups.shape != (n_samples,):
        raise ValueError(
            f"groups must have one entry per row ({n_samples}), got shape {groups.shape}."
        )
    domains = np.atleast_1d(np.asarray(local_domain, dtype=object))
    mask = np.isin(groups.astype(object), domains)
    if not mask.any():
        found = ", ".join(map(repr, np.unique(groups)[:10]))
        raise ValueError(
            f"local_domain={local_domain!r} matches no row of groups (found: {found})."
        )
    return mask
