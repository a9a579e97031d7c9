"""save_model / load_model: a fitted network or Pipeline to a shareable file and back."""

import os

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ._archive import (
    ESTIMATOR_PATH,
    Encoder,
    _class_path,
    _decode,
    estimator_entry,
    fitted_state,
    output_config,
    read_archive,
    source_from_archive,
    write_archive,
)

__all__ = ["load_model", "save_model"]

# Parameters holding live objects of this process (the fitted source model,
# the accelerator with its distributed state): never stored, so a loaded
# model gets their defaults.
_RUNTIME_PARAMS = ("warm_start_from", "accelerator")
_UNITS = ("nm", "cm-1")
_MEASUREMENTS = ("absorbance", "reflectance")


def _network_class():
    # Deferred: the estimator imports this package's lower modules (the
    # source value, the fine-tuning mechanics, the archive); model files sit
    # above it.
    from ..neural import SpectralCNNRegressor

    return SpectralCNNRegressor


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
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    final = steps[-1][1]
    if not isinstance(final, _network_class()):
        raise TypeError(
            f"save_model needs a SpectralCNNRegressor or a Pipeline ending in one, got "
            f"{type(final).__name__}."
        )
    check_is_fitted(final, "net_")
    enc = Encoder()
    step_meta = []
    for i, (name, step) in enumerate(steps[:-1]):
        step_meta.append({
            "name": name,
            "class": _class_path(step),
            "params": enc(step.get_params(deep=False), f"steps.{i}.params"),
            "fitted": enc(fitted_state(step), f"steps.{i}"),
            "output": output_config(step),
        })
    params = final.get_params(deep=False)
    if hasattr(params.get("augment"), "get_params"):
        # A SpectralAugmenter is stored as its settings, which it is.
        params["augment"] = params["augment"].get_params()
    runtime = {k: params.pop(k, None) for k in _RUNTIME_PARAMS}
    origin = runtime["warm_start_from"]
    source = final.export_source()
    state = {k: getattr(final, k) for k in final._FITTED_STATE if hasattr(final, k)}
    module_state = {f"module.{k}": v for k, v in source.state_dict.items()}
    history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in final.history_]
    wavelengths = final.wavelengths_
    first = steps[0][1]
    if isinstance(model, Pipeline) and getattr(first, "feature_names_in_", None) is not None:
        from ..preprocessing import resolve_wavelengths

        wavelengths = resolve_wavelengths(feature_names=first.feature_names_in_, required=False)
    meta = {
        "package_version": __version__,
        "kind": "pipeline" if isinstance(model, Pipeline) else "estimator",
        "architecture": source.architecture,
        "module_params": source.module_config,
        "input_shape": list(source.input_shape),
        "wavelengths": None if wavelengths is None else np.asarray(wavelengths).tolist(),
        "unit": unit,
        "measurement": measurement,
        "standardize": source.standardize,
        "targets": {
            "names": list(source.target_names),
            "units": dict(target_units or {}),
            "mean": source.y_mean.tolist(),
            "scale": source.y_scale.tolist(),
        },
        "training": {"summary": final.training_summary_, "history": enc(history, "history"),
                     "warm_started_from": None if origin is None else (
                         os.fspath(origin) if isinstance(origin, (str, os.PathLike))
                         else type(origin).__name__)},
        "description": description,
        "steps": step_meta,
        "estimator": {
            "name": steps[-1][0],
            "class": ESTIMATOR_PATH,
            "params": enc(params, "estimator.params"),
            "fitted": enc(state, "estimator"),
        },
    }
    return write_archive(os.fspath(path), meta, {**enc.tensors, **module_state})


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
    meta, tensors = read_archive(path)
    where = os.fspath(path)
    source = source_from_archive(meta, tensors, where)
    entry = estimator_entry(meta, where)
    try:
        params = _decode(entry.get("params", {}), tensors, where)
        fitted = _decode(entry.get("fitted", {}), tensors, where)
        history = _decode(meta["training"]["history"], tensors, where)
        est = _network_class()._from_saved(params, fitted, source, history, device)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: incomplete or inconsistent metadata ({exc!r}).") from None
    if meta.get("kind") == "pipeline":
        return Pipeline(source.preprocessing + [(entry["name"], est)])
    return est
