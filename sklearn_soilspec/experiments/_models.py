"""The default model set of the localisation experiment: recipe names -> constructors.

Every recipe is a small function of the shared settings (fast or full size,
seed, device, epochs, ensemble size) that builds one :class:`ModelSpec` from
public estimators, so :func:`default_models` builds only the recipes asked
for.
"""

from dataclasses import dataclass

from sklearn.pipeline import Pipeline

from ._spec import ModelSpec

__all__ = ["default_models", "MODEL_NAMES", "RECIPE_NAMES"]

MODEL_NAMES = (
    "plsr_local", "plsr_global", "plsr_spiked", "mbl",
    "cnn_local", "cnn_global", "cnn_transfer",
)
# Localisation recipes beyond the study's, chosen by
# benchmarks/accuracy_limesoda.py.
RECIPE_NAMES = (
    "plsr_tuned", "cnn_global_domain", "cnn_transfer_domain", "cnn_transfer_ensemble",
    "blend_transfer_plsr", "blend_transfer_plsr_cv", "blend_ensemble_plsr",
    "blend_crossfit_plsr_cv", "gpr_local", "blend_ensemble_gpr_plsr", "blend_crossfit_gpr_plsr_cv",
    "gpr_local_d2", "blend_ensemble_gpr_d1d2_plsr", "localised",
)
# How the CNN is told to standardise inputs and targets within each domain.
_PER_DOMAIN = {"standardize": "per_domain"}


def default_models(fast=False, random_state=0, device="cpu", names=None, max_epochs=None,
                   recipes=False, n_ensemble=5):
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
        Savitzky-Golay first derivative then a multi-task 1-D
        :class:`~sklearn_soilspec.neural.SpectralCNNRegressor` with early
        stopping on 10 % of its training rows.
    ``cnn_transfer``
        ``cnn_local``'s network started from the fitted ``cnn_global`` of the
        same domain, convolution blocks frozen (``freeze_layers="features"``):
        the plain recipe of Padarian et al. (2019).

    With ``recipes=True`` (or by name) the localisation recipes of the
    accuracy benchmark come too:

    ``plsr_tuned``
        Local PLSR whose preprocessing (SG first derivative or SNV) is chosen
        per property by 5-fold inner CV
        (:class:`~sklearn_soilspec.ensemble.SelectorRegressor`).
    ``cnn_global_domain``
        ``cnn_global`` with inputs and targets standardised within each
        domain (``standardize="per_domain"``; the network requests the domains
        as ``groups``).
    ``cnn_transfer_domain``
        Transfer from ``cnn_global_domain``, standardised with the local
        statistics, convolution blocks frozen.
    ``cnn_transfer_ensemble``
        ``cnn_transfer_domain`` averaged over ``n_ensemble`` seeds
        (:class:`~sklearn_soilspec.ensemble.SeedEnsembleRegressor`).
    ``blend_transfer_plsr``
        0.5 ``cnn_transfer_domain`` + 0.5 ``plsr_tuned``, one estimator
        (:class:`~sklearn_soilspec.ensemble.BlendRegressor`): the CNN member is
        warm-started, the PLSR member is local.
    ``blend_transfer_plsr_cv``
        The same two members with weights chosen per property by 3-fold
        inner CV on the local training rows (0, 0.25, ..., 1): it falls back
        to the local PLSR where transfer does not help (a negative-transfer
        guard).
    ``blend_ensemble_plsr``
        0.5 ``cnn_transfer_ensemble`` + 0.5 ``plsr_tuned``: averaging seeds
        first removes the occasional fine-tuning run that goes astray on a
        few dozen spectra.
    ``blend_crossfit_plsr_cv``
        The negative-transfer guard of the accuracy benchmark:
        ``cnn_transfer_domain`` and ``plsr_tuned`` with weights chosen per
        property by 5-fold inner CV (0, 0.25, ..., 1), the CNN member
        cross-fitted (``refit=["pls"]``): it predicts the mean of its five
        fold models, the very runs the weights were validated on, so a final
        fine-tuning run cannot go astray unseen, and the five runs are a
        seed-and-subsample ensemble at no extra cost.
    ``gpr_local``
        Savitzky-Golay first derivative then
        :class:`~sklearn_soilspec.baselines.PCAGaussianProcessRegressor`
        (linear + RBF kernel on the principal components keeping 99 % of the
        variance), local.
    ``blend_ensemble_gpr_plsr``
        Equal thirds of ``cnn_transfer_ensemble``, ``gpr_local`` and
        ``plsr_tuned``: three local-data models whose errors differ (a
        fine-tuned network, a kernel model, a linear latent-variable model).
    ``blend_crossfit_gpr_plsr_cv``
        The negative-transfer guard with the same three members: weights per
        property by 5-fold inner CV (0, 0.25, ..., 1), the CNN cross-fitted
        as in ``blend_crossfit_plsr_cv``, the GP and the PLSR refitted.
    ``gpr_local_d2``
        ``gpr_local`` on the Savitzky-Golay second derivative (window 15,
        order 2): narrower absorption features, and errors that differ from
        the first-derivative GP's.
    ``blend_ensemble_gpr_d1d2_plsr``
        Equal quarters of ``cnn_transfer_ensemble``, ``gpr_local``,
        ``gpr_local_d2`` and ``plsr_tuned``: the best blend of the earlier
        accuracy benchmark.
    ``localised``
        The package's localised model,
        :class:`~sklearn_soilspec.localised.LocalisedRegressor`, from the
        fitted ``cnn_global_domain`` of the domain and with the domain's
        global library: per property it weighs the global model as it is,
        recalibrated and fine-tuned, local PLSR and Gaussian processes, MBL
        and spiked PLSR by cross-fitting on the local training rows.

    Parameters
    ----------
    fast : bool, default=False
        Small networks, at most 150 epochs, fewer PLS components and
        neighbours: a LimeSoDa run of three sites in a few minutes on a laptop
        CPU. The full setting follows the study's sizes (200 epochs,
        patience 20, up to 20 components).
    random_state : int or None, default=0
        Seed of the CNNs and of the inner CV folds.
    device : str, default="cpu"
        Torch device of the CNNs, e.g. ``"cuda"``.
    names : list of str, default=None
        Subset of the models to build and return (a transfer model brings its
        source along), in the order of ``MODEL_NAMES + RECIPE_NAMES``. None:
        the study set (and the recipes with ``recipes=True``).
    max_epochs : int, default=None
        Override the CNNs' maximum number of epochs (quick trials).
    recipes : bool, default=False
        Add the models of ``RECIPE_NAMES`` to the study set.
    n_ensemble : int, default=5
        Seeds of ``cnn_transfer_ensemble``.

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
    >>> list(default_models(names=["mbl", "plsr_local"]))  # only these are built
    ['plsr_local', 'mbl']
    """
    if names is None:
        names = MODEL_NAMES + (RECIPE_NAMES if recipes else ())
    unknown = [n for n in names if n not in _RECIPES]
    if unknown:
        raise ValueError(
            f"Unknown models {unknown}; the default set has {list(MODEL_NAMES)} and the "
            f"recipes {list(RECIPE_NAMES)}."
        )
    settings = _Settings(fast=fast, random_state=random_state, device=device,
                         max_epochs=max_epochs, n_ensemble=n_ensemble)
    built = {n: _RECIPES[n](settings) for n in dict.fromkeys(names)}
    for spec in list(built.values()):
        if spec.source is not None and spec.source not in built:
            built[spec.source] = _RECIPES[spec.source](settings)
    return {n: built[n] for n in _RECIPES if n in built}


@dataclass(frozen=True)
class _Settings:
    """What every recipe shares (the arguments of :func:`default_models`)."""

    fast: bool
    random_state: object
    device: str
    max_epochs: object
    n_ensemble: int


# -- parts -----------------------------------------------------------------------------
def _derivative():
    from ..preprocessing import SavitzkyGolay

    return SavitzkyGolay(window_length=11, polyorder=2, deriv=1)


def _pls(s):
    from ..baselines import PLSRegressionCV

    return PLSRegressionCV(max_components=10 if s.fast else 20, cv=5,
                           random_state=s.random_state)


def _sg_pls(s):
    return Pipeline([("sg", _derivative()), ("pls", _pls(s))])


def _cnn(s, **extra):
    from ..neural import SpectralCNNRegressor

    # Chosen on LimeSoDa vis-NIR (benchmarks/accuracy_limesoda.py, odd folds of
    # four sites): SG-derivative input instead of SNV took the local CNN from
    # +22 % to +9 % RMSE vs local PLSR, and 150 epochs / patience 30 / lr 3e-3
    # to +3 %; 60 epochs with patience 10 stopped on the noise of ~10
    # validation spectra.
    if s.fast:
        size = dict(max_epochs=150, patience=30, lr=3e-3,
                    module_params={"channels": (8, 16, 32), "shared_units": (64,),
                                   "head_units": 32})
    else:
        size = dict(max_epochs=200, patience=30, lr=1e-3)
    if s.max_epochs is not None:
        size["max_epochs"] = s.max_epochs
    net = SpectralCNNRegressor(architecture="conv1d", batch_size=32, validation_fraction=0.1,
                               random_state=s.random_state, device=s.device, **size, **extra)
    return Pipeline([("sg", _derivative()), ("cnn", net)])


def _transfer_domain(s):
    return _cnn(s, freeze_layers="features", **_PER_DOMAIN)


def _seed_ensemble(s):
    from ..ensemble import SeedEnsembleRegressor

    return SeedEnsembleRegressor(_transfer_domain(s), n_estimators=s.n_ensemble,
                                 random_state=s.random_state)


def _tuned_pls(s):
    from ..ensemble import SelectorRegressor
    from ..preprocessing import SNV

    snv_pls = Pipeline([("snv", SNV()), ("pls", _pls(s))])
    # Per property the preprocessing with the lower 5-fold out-of-fold RMSE
    # (what BlendRegressor(weights="best") did before the selector existed).
    return SelectorRegressor([("sg", _sg_pls(s)), ("snv", snv_pls)], cv=5,
                             random_state=s.random_state)


def _gpr(s, deriv=1):
    from ..baselines import PCAGaussianProcessRegressor
    from ..preprocessing import SavitzkyGolay

    sg = _derivative() if deriv == 1 else SavitzkyGolay(window_length=15, polyorder=2, deriv=2)
    return Pipeline([("sg", sg),
                     ("gpr", PCAGaussianProcessRegressor(random_state=s.random_state))])


def _blend(s, members, source="cnn_global_domain", **options):
    from ..ensemble import BlendRegressor

    return ModelSpec(BlendRegressor(members, random_state=s.random_state, **options),
                     "transfer", source=source)


# -- the study's models ------------------------------------------------------------------
def _plsr_local(s):
    return ModelSpec(_sg_pls(s), "local")


def _plsr_global(s):
    return ModelSpec(_sg_pls(s), "global")


def _plsr_spiked(s):
    from ..baselines import SpikedRegressor

    spiked = SpikedRegressor(_pls(s), spike_weight=5.0)
    return ModelSpec(Pipeline([("sg", _derivative()), ("spiked", spiked)]), "spiked")


def _mbl(s):
    from ..baselines import MemoryBasedRegressor

    mbl = MemoryBasedRegressor(n_neighbors=50 if s.fast else 100,
                               pls_components=(3, 10) if s.fast else (3, 15), spike=True)
    return ModelSpec(Pipeline([("sg", _derivative()), ("mbl", mbl)]), "spiked")


def _cnn_local(s):
    return ModelSpec(_cnn(s), "local")


def _cnn_global(s):
    return ModelSpec(_cnn(s), "global")


def _cnn_transfer(s):
    return ModelSpec(_cnn(s, freeze_layers="features"), "transfer", source="cnn_global")


# -- the benchmark's recipes ---------------------------------------------------------------
def _plsr_tuned(s):
    return ModelSpec(_tuned_pls(s), "local")


def _cnn_global_domain(s):
    return ModelSpec(_cnn(s, **_PER_DOMAIN), "global")


def _cnn_transfer_domain(s):
    return ModelSpec(_transfer_domain(s), "transfer", source="cnn_global_domain")


def _cnn_transfer_ensemble(s):
    return ModelSpec(_seed_ensemble(s), "transfer", source="cnn_global_domain")


def _blend_transfer_plsr(s):
    return _blend(s, [("cnn", _transfer_domain(s)), ("pls", _tuned_pls(s))], weights=[0.5, 0.5])


def _blend_transfer_plsr_cv(s):
    return _blend(s, [("cnn", _transfer_domain(s)), ("pls", _tuned_pls(s))],
                  weights="optimal", cv=3, weight_steps=4)


def _blend_ensemble_plsr(s):
    return _blend(s, [("cnn", _seed_ensemble(s)), ("pls", _tuned_pls(s))], weights=[0.5, 0.5])


def _blend_crossfit_plsr_cv(s):
    return _blend(s, [("cnn", _transfer_domain(s)), ("pls", _tuned_pls(s))],
                  weights="optimal", cv=5, weight_steps=4, refit=["pls"])


def _gpr_local(s):
    return ModelSpec(_gpr(s), "local")


def _blend_ensemble_gpr_plsr(s):
    return _blend(s, [("cnn", _seed_ensemble(s)), ("gpr", _gpr(s)), ("pls", _tuned_pls(s))])


def _blend_crossfit_gpr_plsr_cv(s):
    return _blend(s, [("cnn", _transfer_domain(s)), ("gpr", _gpr(s)), ("pls", _tuned_pls(s))],
                  weights="optimal", cv=5, weight_steps=4, refit=["gpr", "pls"])


def _gpr_local_d2(s):
    return ModelSpec(_gpr(s, deriv=2), "local")


def _blend_ensemble_gpr_d1d2_plsr(s):
    return _blend(s, [("cnn", _seed_ensemble(s)), ("gpr", _gpr(s)), ("gpr_d2", _gpr(s, deriv=2)),
                      ("pls", _tuned_pls(s))])


def _localised(s):
    from ..localised import LocalisedRegressor

    # The runner sets the source (the domain's fitted global network) and
    # the library (the domain's global library) before every fit.
    return ModelSpec(LocalisedRegressor(source=None, random_state=s.random_state), "transfer",
                     source="cnn_global_domain")


# Name -> constructor, in the order default_models returns them.
_RECIPES = {name: globals()["_" + name] for name in MODEL_NAMES + RECIPE_NAMES}
