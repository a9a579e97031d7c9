"""The default model set of the localisation experiment."""

from sklearn.pipeline import Pipeline

from ._spec import ModelSpec

__all__ = ["default_models", "MODEL_NAMES"]

MODEL_NAMES = (
    "plsr_local", "plsr_global", "plsr_spiked", "mbl",
    "cnn_local", "cnn_global", "cnn_transfer",
)


def default_models(fast=False, random_state=0, device="cpu", names=None, max_epochs=None):
    """The study's comparison: PLSR, spiking, MBL and CNN local/global/transfer.

    Every model is a Pipeline with its usual preprocessing:

    ``plsr_local``, ``plsr_global``
        Savitzky-Golay first derivative (window 11, order 2) then
        :class:`~sklearn_soilspec.baselines.PLSRegressionCV` (components by
        shuffled 5-fold CV), trained on the local or on the global data.
    ``plsr_spiked``
        The same PLSR fitted on the global library spiked with the local
        training samples (:class:`~sklearn_soilspec.baselines.SpikedRegressor`,
        local weight 5).
    ``mbl``
        Memory-based learning
        (:class:`~sklearn_soilspec.baselines.MemoryBasedRegressor`, weighted
        local PLS) on the first derivative, searching the global library with
        the local training samples spiked into every neighbourhood.
    ``cnn_local``, ``cnn_global``
        SNV then a multi-task 1-D
        :class:`~sklearn_soilspec.neural.SpectralCNNRegressor` with early
        stopping on 10 % of its training rows.
    ``cnn_transfer``
        ``cnn_local``'s network started from the fitted ``cnn_global`` of the
        same domain, convolution blocks frozen (``freeze_layers="features"``):
        the plain recipe of Padarian et al. (2019).

    Parameters
    ----------
    fast : bool, default=False
        Small networks, at most 60 epochs, fewer PLS components and
        neighbours: a LimeSoDa run of three sites in a few minutes on a laptop
        CPU. The full setting follows the study's sizes (200 epochs,
        patience 20, up to 20 components).
    random_state : int or None, default=0
        Seed of the CNNs and of the inner CV folds.
    device : str, default="cpu"
        Torch device of the CNNs, e.g. ``"cuda"``.
    names : list of str, default=None
        Subset of the models to return (a transfer model brings its source
        along). None: all of them.
    max_epochs : int, default=None
        Override the CNNs' maximum number of epochs (quick trials).

    Returns
    -------
    models : dict of str -> ModelSpec

    Examples
    --------
    >>> from sklearn_soilspec.experiments import default_models
    >>> models = default_models(fast=True)
    >>> list(models)
    ['plsr_local', 'plsr_global', 'plsr_spiked', 'mbl', 'cnn_local', 'cnn_global', 'cnn_transfer']
    >>> models["cnn_transfer"].source
    'cnn_global'
    >>> list(default_models(names=["cnn_transfer"]))
    ['cnn_global', 'cnn_transfer']
    """
    from ..baselines import MemoryBasedRegressor, PLSRegressionCV, SpikedRegressor
    from ..neural import SpectralCNNRegressor
    from ..preprocessing import SNV, SavitzkyGolay

    if names is not None:
        unknown = [n for n in names if n not in MODEL_NAMES]
        if unknown:
            raise ValueError(f"Unknown models {unknown}; the default set has {list(MODEL_NAMES)}.")

    def derivative():
        return SavitzkyGolay(window_length=11, polyorder=2, deriv=1)

    def pls():
        return PLSRegressionCV(max_components=10 if fast else 20, cv=5, random_state=random_state)

    if fast:
        cnn_size = dict(max_epochs=60, patience=10,
                        module_params={"channels": (8, 16, 32), "shared_units": (64,),
                                       "head_units": 32})
    else:
        cnn_size = dict(max_epochs=200, patience=20)
    if max_epochs is not None:
        cnn_size["max_epochs"] = max_epochs

    def cnn(**extra):
        net = SpectralCNNRegressor(architecture="conv1d", batch_size=32, lr=1e-3,
                                   validation_fraction=0.1, random_state=random_state,
                                   device=device, **cnn_size, **extra)
        return Pipeline([("snv", SNV()), ("cnn", net)])

    mbl = MemoryBasedRegressor(n_neighbors=50 if fast else 100,
                               pls_components=(3, 10) if fast else (3, 15), spike=True)
    models = {
        "plsr_local": ModelSpec(Pipeline([("sg", derivative()), ("pls", pls())]), "local"),
        "plsr_global": ModelSpec(Pipeline([("sg", derivative()), ("pls", pls())]), "global"),
        "plsr_spiked": ModelSpec(
            Pipeline([("sg", derivative()), ("spiked", SpikedRegressor(pls(), spike_weight=5.0))]),
            "spiked",
        ),
        "mbl": ModelSpec(Pipeline([("sg", derivative()), ("mbl", mbl)]), "spiked"),
        "cnn_local": ModelSpec(cnn(), "local"),
        "cnn_global": ModelSpec(cnn(), "global"),
        "cnn_transfer": ModelSpec(cnn(freeze_layers="features"), "transfer", source="cnn_global"),
    }
    if names is None:
        return models
    keep = set(names) | {models[n].source for n in names if models[n].source}
    return {k: v for k, v in models.items() if k in keep}
