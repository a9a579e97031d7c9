"""The default model set of the localisation experiment."""

from sklearn.pipeline import Pipeline

from ._spec import ModelSpec

__all__ = ["default_models", "MODEL_NAMES", "RECIPE_NAMES"]

MODEL_NAMES = (
    "plsr_local", "plsr_global", "plsr_spiked", "mbl",
    "cnn_local", "cnn_global", "cnn_transfer",
)
# Localisation recipes beyond the study's (issue 9), chosen by
# benchmarks/accuracy_limesoda.py.
RECIPE_NAMES = (
    "plsr_tuned", "cnn_global_domain", "cnn_transfer_domain", "cnn_transfer_ensemble",
    "blend_transfer_plsr", "blend_transfer_plsr_cv", "blend_ensemble_plsr",
    "blend_crossfit_plsr_cv", "gpr_local", "blend_ensemble_gpr_plsr", "blend_crossfit_gpr_plsr_cv",
    "gpr_local_d2", "blend_ensemble_gpr_d1d2_plsr",
)


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
        (:class:`~sklearn_soilspec.blend.BlendRegressor`, ``weights="best"``).
    ``cnn_global_domain``
        ``cnn_global`` with inputs and targets standardised within each
        domain (``domain_standardize=True``; needs the domains as ``groups``).
    ``cnn_transfer_domain``
        Transfer from ``cnn_global_domain``, standardised with the local
        statistics, convolution blocks frozen.
    ``cnn_transfer_ensemble``
        ``cnn_transfer_domain`` averaged over ``n_ensemble`` seeds
        (:class:`~sklearn_soilspec.ensemble.SeedEnsembleRegressor`).
    ``blend_transfer_plsr``
        0.5 ``cnn_transfer_domain`` + 0.5 ``plsr_tuned``, one estimator
        (:class:`~sklearn_soilspec.blend.BlendRegressor`): the CNN member is
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
        ``gpr_local_d2`` and ``plsr_tuned``: the accuracy benchmark's best
        localised estimator.

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
        Subset of the models to return (a transfer model brings its source
        along). None: all of them.
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
    """
    from ..baselines import (
        MemoryBasedRegressor,
        PCAGaussianProcessRegressor,
        PLSRegressionCV,
        SpikedRegressor,
    )
    from ..blend import BlendRegressor
    from ..ensemble import SeedEnsembleRegressor
    from ..neural import SpectralCNNRegressor
    from ..preprocessing import SNV, SavitzkyGolay

    if names is not None:
        unknown = [n for n in names if n not in MODEL_NAMES + RECIPE_NAMES]
        if unknown:
            raise ValueError(
                f"Unknown models {unknown}; the default set has {list(MODEL_NAMES)} and the "
                f"recipes {list(RECIPE_NAMES)}."
            )

    def derivative():
        return SavitzkyGolay(window_length=11, polyorder=2, deriv=1)

    def pls():
        return PLSRegressionCV(max_components=10 if fast else 20, cv=5, random_state=random_state)

    # Chosen on LimeSoDa vis-NIR (benchmarks/accuracy_limesoda.py, odd folds of
    # four sites): SG-derivative input instead of SNV took the local CNN from
    # +22 % to +9 % RMSE vs local PLSR, and 150 epochs / patience 30 / lr 3e-3
    # to +3 %; 60 epochs with patience 10 stopped on the noise of ~10
    # validation spectra.
    if fast:
        cnn_size = dict(max_epochs=150, patience=30, lr=3e-3,
                        module_params={"channels": (8, 16, 32), "shared_units": (64,),
                                       "head_units": 32})
    else:
        cnn_size = dict(max_epochs=200, patience=30, lr=1e-3)
    if max_epochs is not None:
        cnn_size["max_epochs"] = max_epochs

    def cnn(**extra):
        net = SpectralCNNRegressor(architecture="conv1d", batch_size=32,
                                   validation_fraction=0.1, random_state=random_state,
                                   device=device, **cnn_size, **extra)
        return Pipeline([("sg", derivative()), ("cnn", net)])

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
    def plsr_tuned():
        return BlendRegressor([("sg", Pipeline([("sg", derivative()), ("pls", pls())])),
                               ("snv", Pipeline([("snv", SNV()), ("pls", pls())]))],
                              weights="best", cv=5, random_state=random_state)

    def gpr(deriv=1):
        sg = (derivative() if deriv == 1
              else SavitzkyGolay(window_length=15, polyorder=2, deriv=2))
        return Pipeline([("sg", sg),
                         ("gpr", PCAGaussianProcessRegressor(random_state=random_state))])

    transfer_domain = cnn(freeze_layers="features", domain_standardize=True)
    models.update({
        "plsr_tuned": ModelSpec(plsr_tuned(), "local"),
        "cnn_global_domain": ModelSpec(cnn(domain_standardize=True), "global"),
        "cnn_transfer_domain": ModelSpec(transfer_domain, "transfer",
                                         source="cnn_global_domain"),
        "cnn_transfer_ensemble": ModelSpec(
            SeedEnsembleRegressor(transfer_domain, n_estimators=n_ensemble,
                                  random_state=random_state),
            "transfer", source="cnn_global_domain"),
        "blend_transfer_plsr": ModelSpec(
            BlendRegressor([("cnn", transfer_domain), ("pls", plsr_tuned())],
                           weights=[0.5, 0.5], random_state=random_state),
            "transfer", source="cnn_global_domain"),
        "blend_ensemble_plsr": ModelSpec(
            BlendRegressor([("cnn", SeedEnsembleRegressor(transfer_domain,
                                                          n_estimators=n_ensemble,
                                                          random_state=random_state)),
                            ("pls", plsr_tuned())],
                           weights=[0.5, 0.5], random_state=random_state),
            "transfer", source="cnn_global_domain"),
        "blend_transfer_plsr_cv": ModelSpec(
            BlendRegressor([("cnn", transfer_domain), ("pls", plsr_tuned())],
                           weights="optimal", cv=3, weight_steps=4,
                           random_state=random_state),
            "transfer", source="cnn_global_domain"),
        "blend_crossfit_plsr_cv": ModelSpec(
            BlendRegressor([("cnn", transfer_domain), ("pls", plsr_tuned())],
                           weights="optimal", cv=5, weight_steps=4, refit=["pls"],
                           random_state=random_state),
            "transfer", source="cnn_global_domain"),
        "gpr_local": ModelSpec(gpr(), "local"),
        "blend_ensemble_gpr_plsr": ModelSpec(
            BlendRegressor([("cnn", SeedEnsembleRegressor(transfer_domain,
                                                          n_estimators=n_ensemble,
                                                          random_state=random_state)),
                            ("gpr", gpr()), ("pls", plsr_tuned())],
                           random_state=random_state),
            "transfer", source="cnn_global_domain"),
        "blend_crossfit_gpr_plsr_cv": ModelSpec(
            BlendRegressor([("cnn", transfer_domain), ("gpr", gpr()), ("pls", plsr_tuned())],
                           weights="optimal", cv=5, weight_steps=4, refit=["gpr", "pls"],
                           random_state=random_state),
            "transfer", source="cnn_global_domain"),
        "gpr_local_d2": ModelSpec(gpr(deriv=2), "local"),
        "blend_ensemble_gpr_d1d2_plsr": ModelSpec(
            BlendRegressor([("cnn", SeedEnsembleRegressor(transfer_domain,
                                                          n_estimators=n_ensemble,
                                                          random_state=random_state)),
                            ("gpr", gpr()), ("gpr_d2", gpr(deriv=2)), ("pls", plsr_tuned())],
                           random_state=random_state),
            "transfer", source="cnn_global_domain"),
    })
    if names is None:
        keep = MODEL_NAMES + (RECIPE_NAMES if recipes else ())
        return {k: models[k] for k in keep}
    keep = set(names) | {models[n].source for n in names if models[n].source}
    return {k: v for k, v in models.items() if k in keep}
