"""How a model takes part in a localisation experiment."""

from dataclasses import dataclass

from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import get_routing_for_object

from .._targets import allows_missing_targets

__all__ = ["ModelSpec"]

TRAININGS = ("local", "global", "spiked", "transfer")
MISSING_TARGETS = ("auto", "native", "per_target")


@dataclass
class ModelSpec:
    """A model of the experiment and the data it is trained on.

    Parameters
    ----------
    estimator : estimator object
        Any scikit-learn regressor or Pipeline; it is cloned for every fit.
    training : {"local", "global", "spiked", "transfer"}, default="local"
        ``"local"``: the target domain's training rows only.
        ``"global"``: every other domain (never the target domain); the
        domain labels are passed as ``fit(..., groups=...)``, with metadata
        routing, when the estimator requests ``groups`` (per-domain
        standardisation of
        :class:`~sklearn_soilspec.neural.SpectralCNNRegressor`, grouped inner
        CV of :class:`~sklearn_soilspec.baselines.PLSRegressionCV`; a
        Pipeline requests what its steps request, and
        ``set_fit_request(groups=False)`` on a step declines them).
        ``"spiked"``: every other domain plus the local training rows; the
        domain labels are passed in the same way and any parameter ending in
        ``local_domain`` is set to the target domain (for
        :class:`~sklearn_soilspec.baselines.SpikedRegressor` and
        :class:`~sklearn_soilspec.baselines.MemoryBasedRegressor`).
        ``"transfer"``: the local training rows, starting from the fitted
        ``source`` model: the parameter ending in ``warm_start_from`` (so a
        Pipeline works), or the ``source`` of a
        :class:`~sklearn_soilspec.localised.LocalisedRegressor`, is set to that
        fitted model, and a parameter ending in ``library`` to the global
        library of the domain (MBL and spiking members).
    source : str, default=None
        For ``training="transfer"``: name of the ``"global"`` model to start
        from. It is fitted once per target domain and shared by every
        transfer model that names it.
    missing_targets : {"auto", "native", "per_target"}, default="auto"
        ``"native"``: the estimator accepts NaN targets itself (the masked
        multi-task loss of
        :class:`~sklearn_soilspec.neural.SpectralCNNRegressor`).
        ``"per_target"``: it is wrapped in :class:`PerTargetRegressor`, one
        fit per property on the rows where it was measured. ``"auto"``:
        native for estimators tagged ``target_tags.allow_nan`` (see
        :func:`sklearn_soilspec._targets.allows_missing_targets`; alone or
        last in a Pipeline): the package's NaN-aware regressors, and its
        meta-estimators when everything they wrap is NaN-aware; per-target
        otherwise.

    Examples
    --------
    >>> from sklearn.cross_decomposition import PLSRegression
    >>> from sklearn_soilspec.experiments import ModelSpec
    >>> ModelSpec(PLSRegression(n_components=5), training="global").training
    'global'
    """

    estimator: object
    training: str = "local"
    source: str = None
    missing_targets: str = "auto"

    def check(self, name, specs):
        """Raise a ValueError naming ``name`` if this spec cannot run in ``specs``."""
        if not (hasattr(self.estimator, "fit") and hasattr(self.estimator, "predict")):
            raise ValueError(f"Model {name!r}: {self.estimator!r} has no fit/predict.")
        if self.training not in TRAININGS:
            raise ValueError(
                f"Model {name!r}: training must be one of {TRAININGS}, got {self.training!r}."
            )
        if self.missing_targets not in MISSING_TARGETS:
            raise ValueError(
                f"Model {name!r}: missing_targets must be one of {MISSING_TARGETS}, "
                f"got {self.missing_targets!r}."
            )
        if self.training != "transfer":
            return
        src = specs.get(self.source)
        if src is None or src.training != "global":
            globals_ = [k for k, s in specs.items() if s.training == "global"]
            raise ValueError(
                f"Model {name!r}: source must name a 'global' model of the experiment "
                f"({globals_}), got {self.source!r}."
            )
        if source_parameter(self.estimator) is None:
            raise ValueError(
                f"Model {name!r}: training='transfer' needs an estimator with a "
                "`warm_start_from` parameter (a SpectralCNNRegressor or a Pipeline "
                "ending in one) or a `source` (LocalisedRegressor)."
            )

    def native_missing(self):
        if self.missing_targets != "auto":
            return self.missing_targets == "native"
        return handles_missing_targets(self.estimator)


def handles_missing_targets(est):
    """Whether ``est`` (or the last step of a Pipeline) accepts NaN targets.

    Read from the ``target_tags.allow_nan`` tag (:func:`allows_missing_targets`).
    """
    return allows_missing_targets(est)


def requests_groups(est):
    """Whether ``est``'s ``fit`` requests ``groups`` under metadata routing.

    A Pipeline or a meta-estimator that routes metadata answers for what it
    wraps.
    """
    return "groups" in get_routing_for_object(est).consumes("fit", ["groups"])


def sample_ids_are_safe(est):
    """Whether every part of ``est`` that consumes ``groups`` may be given sample ids.

    Replicate scans' sample ids are right for whatever only splits folds by
    ``groups`` (:class:`~sklearn_soilspec.baselines.PLSRegressionCV`, whose
    ``_groups_are_folds`` says so) or takes them as samples
    (``LocalisedRegressor``, which passes them on itself). They are wrong for
    what takes ``groups`` as domains: a network standardising per domain
    would standardise each sample's scans on their own and learn nothing.
    """
    if getattr(est, "_groups_are_samples", False) or getattr(est, "_groups_are_folds", False):
        return True
    try:
        if est._get_metadata_request().fit.requests.get("groups"):
            return False
    except AttributeError:
        pass
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    parts = []
    for value in params.values():
        # Lists of estimators or of (name, estimator): Pipeline steps, ensembles.
        for item in value if isinstance(value, (list, tuple)) else [value]:
            item = item[-1] if isinstance(item, tuple) and item else item
            if hasattr(item, "fit") and hasattr(item, "get_params"):
                parts.append(item)
    return all(sample_ids_are_safe(part) for part in parts)


def takes_sample_groups(est):
    """Whether ``est``'s ``groups`` are sample ids (``LocalisedRegressor``), not domain labels.

    Given the ids of replicate scans, its cross-fit and its candidates' inner
    folds hold a sample out whole. Other estimators' ``groups`` mean domains
    (per-domain standardisation, grouped inner CV) and get them only by
    metadata routing, when they request them.
    """
    return bool(getattr(est, "_groups_are_samples", False))


def as_spec(model):
    """A ModelSpec from a ModelSpec or a bare estimator (trained locally)."""
    return model if isinstance(model, ModelSpec) else ModelSpec(model)


def final_estimator(est):
    while isinstance(est, Pipeline):
        est = est.steps[-1][1]
    return est


def source_parameter(est):
    """The parameter a transfer model's fitted source goes into, or None.

    ``warm_start_from`` of a network (nested in a Pipeline or an ensemble),
    else the ``source`` of a :class:`~sklearn_soilspec.localised.LocalisedRegressor`.
    """
    key = param_ending(est, "warm_start_from")
    if key is None and "source" in final_estimator(est).get_params(deep=False):
        prefix = ""
        while isinstance(est, Pipeline):
            name, est = est.steps[-1]
            prefix += f"{name}__"
        key = prefix + "source"
    return key


def param_ending(est, suffix):
    """Name of the (nested) parameter ending in ``suffix``, shortest first, or None."""
    names = [k for k in est.get_params(deep=True) if k == suffix or k.endswith("__" + suffix)]
    return min(names, key=len) if names else None


def with_verbosity(est, level):
    """A clone of ``est`` whose estimators' ``verbose`` parameters are ``level``.

    Pipelines are left alone: their ``verbose`` prints step timings, which is
    not what an experiment's verbosity is about.
    """
    est = clone(est)
    params = est.get_params(deep=True)
    new = {}
    for key, value in params.items():
        if not (key == "verbose" or key.endswith("__verbose")):
            continue
        owner = est if key == "verbose" else params[key.rsplit("__", 1)[0]]
        if isinstance(owner, Pipeline):
            continue
        new[key] = bool(level) if isinstance(value, bool) else int(level)
    return est.set_params(**new) if new else est
