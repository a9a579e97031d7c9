"""Transfer learning: the source model, fine-tuning mechanics and shareable model files.

A model trained on a large (global) library is localised by fitting a
:class:`~sklearn_soilspec.neural.SpectralCNNRegressor` with
``warm_start_from=<source>`` on the small local data, optionally with
``freeze_layers``. Every mechanism of that lives in this package, in one
module per idea:

``_source``
    :class:`SourceModel`, the plain value a warm start copies from (weights,
    scalers, targets, wavelength grid, measurement, preprocessing, network
    configuration), and :func:`as_source`, which reads it from a model file
    or a fitted model.
``_fine_tune``
    The mechanics on that value: compatibility check, which heads are
    carried, the scaling of the local data, the weight copy, freezing as
    skorch ``Freezer`` / ``Unfreezer`` callbacks, the batch-norm policy and
    the transfer report. It never imports the estimator; the estimator calls
    it from ``fit``, so every clone (``GridSearchCV``, ``cross_val_score``)
    re-applies the warm start.
``_archive`` and ``_files``
    The model file format (:func:`read_metadata`, :func:`read_source`) and
    :func:`save_model` / :func:`load_model` for fitted networks and Pipelines.

The guard against negative transfer is a model choice, so it lives with the
other choices: :class:`~sklearn_soilspec.ensemble.SelectorRegressor` and the
localised model :class:`~sklearn_soilspec.localised.LocalisedRegressor`.
``TransferSelector`` here is deprecated.

References
----------
Padarian, J., Minasny, B., McBratney, A. B. (2019). Transfer learning to
localise a continental soil vis-NIR calibration model. Geoderma 340, 279-288.
"""

from ._archive import FORMAT_NAME, FORMAT_VERSION, read_metadata, read_source
from ._fine_tune import WarmStart, plan_warm_start
from ._files import load_model, save_model
from ._selector import TransferSelector
from ._resolve import as_source
from ._source import SourceModel

__all__ = [
    "SourceModel",
    "TransferSelector",
    "as_source",
    "load_model",
    "read_metadata",
    "read_source",
    "save_model",
]
