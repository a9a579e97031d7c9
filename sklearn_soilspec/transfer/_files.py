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
    model : fitted estimator
        A :class:`~sklearn_soilspec.neural.SpectralCNNRegressor` or a
        Pipeline ending in one, whose steps are
        ``sklearn_soilspec.preprocessing`` transformers or sklearn
        scalers/PCA (format version 2, which every release reads); or any
        other model built from this package's estimators and the
        scikit-learn classes they use, such as a
        :class:`~sklearn_soilspec.localised.LocalisedRegressor` or a PLSR
        Pipeline (format version 3: a tree of JSON and ``.npy`` arrays, the
        networks in it as in version 2). Anything else is refused with the
        class named.
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

    Notes
    -----
    A LocalisedRegressor is written without its ``library``, and its
    library candidates without the library arrays they were built from: a
    shared file should not hand out the data it was localised with, and
    prediction does not read them. A memory-based candidate (``mbl``) keeps
    the library rows it searches, as it must. The loaded model predicts and
    gives intervals exactly as the saved one; refitting a clone of it needs
    ``library=`` set again.

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
        raise ValueError(
            f"measurement must be one of {_MEASUREMENTS} or None, got {measurement!r}.")
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
    model : fitted estimator
        Predicting exactly as the saved model did. A network keeps its
        fine-tuning settings (``freeze_layers``) but not its source: refitting
        a clone needs ``warm_start_from`` set again. In a model of format
        version 3 the networks keep their sources, which are in the file.

    Raises
    ------
    ValueError
        If the file is not a model file, is truncated or edited, uses
        another format version, names a class outside the allow-list or its
        weights and arrays are anything but plain tensors and numeric arrays.

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

    A localised model (here on a PLSR source, to be quick) is a file too:

    >>> from sklearn_soilspec.baselines import PLSRegressionCV
    >>> from sklearn_soilspec.localised import LocalisedRegressor
    >>> Y = pd.DataFrame({"OC": y, "clay": X.to_numpy()[:, 5:9].sum(axis=1)})
    >>> pls = make_pipeline(SNV(), PLSRegressionCV(5, random_state=0)).fit(X[:30], Y[:30])
    >>> local = LocalisedRegressor(pls, members=["source_corrected", "plsr", "mean"],
    ...                            cv=3).fit(X[30:], Y[30:])
    >>> path = save_model(local, os.path.join(tempfile.mkdtemp(), "local.soilspec"))
    >>> loaded = load_model(path)
    >>> bool((loaded.predict(X) == local.predict(X)).all())
    True
    >>> read_metadata(path)["format_version"], read_metadata(path)["class"]
    (3, 'sklearn_soilspec.localised.LocalisedRegressor')
    """
    meta, arrays = read_archive(path)
    where = os.fspath(path)
    if meta.get("kind") == "tree":
        return decode_tree(meta, arrays, where, device)
    return network_from_metadata(meta, arrays, where, device)
