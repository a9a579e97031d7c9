"""Whatever a user passes as ``warm_start_from``, as a :class:`SourceModel`."""

import os

import numpy as np

from ._archive import read_source
from ._source import SourceModel

__all__ = ["as_source"]


def as_source(source):
    """The :class:`SourceModel` behind a warm start's ``source``.

    Parameters
    ----------
    source : str, PathLike, SourceModel or fitted estimator
        A model file (:func:`~sklearn_soilspec.transfer.save_model`), a
        fitted ``SpectralCNNRegressor``, a fitted Pipeline ending in one, or
        a :class:`~sklearn.frozen.FrozenEstimator` of either.

    Returns
    -------
    source : SourceModel
        With ``preprocessing`` holding a Pipeline's fitted steps.

    Raises
    ------
    TypeError
        For anything else.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.preprocessing import SNV
    >>> from sklearn_soilspec.transfer import as_source
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 16)), rng.normal(size=40)
    >>> net = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                           "head_units": 8}, max_epochs=1, random_state=0)
    >>> source = as_source(make_pipeline(SNV(), net).fit(X, y))
    >>> [name for name, _ in source.preprocessing]
    ['snv']
    """
    if isinstance(source, SourceModel):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_source(source)
    # FrozenEstimator (sklearn.frozen) wraps the fitted model in `.estimator`.
    if type(source).__name__ == "FrozenEstimator" and hasattr(source, "estimator"):
        source = source.estimator
    steps = []
    if hasattr(source, "steps") and hasattr(source, "named_steps"):
        steps, source = list(source.steps[:-1]), source.steps[-1][1]
    if not callable(getattr(source, "export_source", None)):
        raise TypeError(
            "warm_start_from must be a model file, a fitted SpectralCNNRegressor or a "
            f"Pipeline ending in one; got {type(source).__name__}."
        )
    out = source.export_source()
    out.input_wavelengths = out.wavelengths
    if steps:
        out.preprocessing = steps
        first = steps[0][1]
        names = getattr(first, "feature_names_in_", None)
        if names is not None:
            from ..preprocessing import resolve_wavelengths

            wl = resolve_wavelengths(feature_names=names, required=False)
            if wl is not None:
                out.input_wavelengths = np.asarray(wl, dtype=np.float64)
    return out
