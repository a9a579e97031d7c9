"""save_model / load_model: a fitted model to a shareable file and back, without pickle."""

import os

from sklearn.utils.validation import check_is_fitted

from ._archive import read_archive, write_archive, write_tree_archive
from ._network import is_network_model, network_from_metadata, network_metadata
from ._tree import decode_tree, encode_tree

__all__ = ["load_model", "save_model"]

_UNITS = ("nm", "cm-1")
_MEASUREMENTS = ("absorbance", "reflectance")


def save_model(model, path, *, unit=None, measurement=None, target_units=None, description=""):
    """Write a fitted model to a shareable file that loads without running code.

    Parameters
    ----------
    model : SpectralCNNRegressor or Pipeline ending in one
        Fitted. Pipeline steps must be ``sklearn_soilspec.preprocessing``
        transformers or sklearn scalers/PCA.
    path : str or PathLike
        Output file; ``.soilspec`` by convention. Written to a temporary
        file and renamed, so an existing file survives a failed write.
    unit : {"nm", "cm-1"} or None, default=None
        Unit of the wavelength grid the model takes.
    measurement : {"absorbance", "reflectance"} or None, default=None
        What the spectra the model takes are; ``soilspec predict`` and
        ``fine-tune`` refuse data of the other kind.
    target_units : dict or None, default=None
        Unit of each property, e.g. ``{"OC": "%"}``.
    description : str, default=""
        Free text (data source, licence, contact).

    Returns
    -------
    path : str

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.transfer import save_model, load_model
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 16)), rng.normal(size=40)
    >>> model = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                             "head_units": 8},
    ...                              max_epochs=2, random_state=0).fit(X, y)
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "demo.soilspec"))
    >>> np.allclose(load_model(path).predict(X), model.predict(X))
    True
    """
    if unit not in (None,) + _UNITS:
        raise ValueError(f"unit must be one of {_UNITS} or None, got {unit!r}.")
    if measurement not in (None,) + _MEASUREMENTS:
        raise ValueError(f"measurement must be one of {_MEASUREMENTS} or None, got {measurement!r}.")
    path = os.fspath(path)
    if is_network_model(model):
        meta, tensors = network_metadata(model, unit=unit, measurement=measurement,
                                         target_units=target_units, description=description)
        return write_archive(path, meta, tensors)
    check_is_fitted(model)
    meta, arrays = encode_tree(model)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    names = getattr(final, "target_names_", None)
    meta.update(unit=unit, measurement=measurement, description=description,
                targets={"names": None if names is None else [str(n) for n in names],
                         "units": dict(target_units or {})})
    return write_tree_archive(path, meta, arrays)


def load_model(path, device="cpu"):
    """Read a file written by :func:`save_model`; no code in it is executed.

    Parameters
    ----------
    path : str or PathLike
    device : str, default="cpu"
        Torch device for the network.

    Returns
    -------
    model : SpectralCNNRegressor or Pipeline
        Fitted, predicting exactly as the saved model did. It keeps its
        fine-tuning settings (``freeze_layers``) but not its source: refitting
        a clone needs ``warm_start_from`` set again.

    Raises
    ------
    ValueError
        If the file is not a model file, is truncated or edited, uses
        another format version, names a class outside the allow-list or its
        weights are anything but plain tensors.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> from sklearn_soilspec.preprocessing import SNV, WavelengthResampler
    >>> from sklearn_soilspec.transfer import load_model, read_metadata, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(40, 50)), columns=[str(w) for w in range(400, 500, 2)])
    >>> y = X.to_numpy()[:, :5].sum(axis=1)
    >>> net = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                           "head_units": 8}, max_epochs=2, random_state=0)
    >>> pipe = make_pipeline(WavelengthResampler(target=(404, 490, 4)), SNV(), net)
    >>> pipe = pipe.set_output(transform="pandas").fit(X, y)
    >>> path = save_model(pipe, os.path.join(tempfile.mkdtemp(), "oc.soilspec"), unit="nm",
    ...                   measurement="absorbance")
    >>> model = load_model(path)
    >>> [name for name, _ in model.steps]
    ['wavelengthresampler', 'snv', 'spectralcnnregressor']
    >>> np.allclose(model.predict(X), pipe.predict(X))
    True
    >>> read_metadata(path)["unit"], read_metadata(path)["measurement"]
    ('nm', 'absorbance')
    """
    meta, arrays = read_archive(path)
    where = os.fspath(path)
    if meta.get("kind") == "tree":
        return decode_tree(meta, arrays, where, device)
    return network_from_metadata(meta, arrays, where, device)
