"""Fitting every model of one target domain: the unit of parallel work."""

import inspect
import time
import warnings

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.pipeline import Pipeline

from ._per_target import PerTargetRegressor
from ._spec import (param_ending, requests_groups, sample_ids_are_safe, source_parameter,
                    takes_sample_groups, with_verbosity)

__all__ = ["count_fits", "fit_global", "run_domain"]


def count_fits(specs, n_repeats, fitted_global=None):
    """Model fits of one target domain: its global models once, the rest per repeat."""
    fitted_global = fitted_global or {}
    n_global = sum(s.training == "global" and name not in fitted_global
                   for name, s in specs.items())
    return n_global + n_repeats * sum(s.training != "global" for s in specs.values())


def fit_global(library, domain, name, spec, verbose, tag="", progress=None):
    """Fit one global model of a target domain on every other domain.

    The unit of parallel work before the domains: a domain's global models
    do not depend on each other, and two global networks are most of a
    domain's time, so fitting them as tasks of their own keeps every worker
    busy where whole domains would leave one idle (three domains on two
    cores).
    """
    t0 = time.perf_counter()
    global_ = library.subset(np.asarray(library.groups != domain))
    Yg = global_.Y.reset_index(drop=True).astype(np.float64)
    est = _prepare(spec, verbose)
    _started(progress, domain, name)
    est = _fit(est, global_.X, Yg, name, domain, groups=np.asarray(global_.groups))
    _done(progress)
    if verbose >= 2 or (verbose and (progress is None or not progress.live)):
        say = progress.write if progress is not None else _print
        say(f"{tag} domain {domain!r}: global model {name!r} fitted in "
            f"{time.perf_counter() - t0:.1f} s")
    return est


def run_domain(library, domain, specs, tests, verbose, tag="", fitted_global=None,
               progress=None):
    """Fit and test every model on one target domain.

    Parameters
    ----------
    library : SpectralLibrary
        The whole library with ``X`` as a DataFrame (wavelength columns).
    domain : object
        The target domain.
    specs : dict of str -> ModelSpec
    tests : list of ndarray
        Test rows of each repeat, as positions within the domain.
    verbose : int
    tag : str
        Prefix of the progress lines (``"[2/5]"``).
    fitted_global : dict of str -> estimator, default=None
        Global models already fitted on this domain's global library (the
        experiment's cache): used instead of fitting them again.
    progress : FitProgress or its relay, default=None
        Told of every fit as it starts and ends: the bar itself in-process,
        the reporter of :meth:`FitProgress.relay` in a worker of ``n_jobs``
        (None: a remote worker, whose domain the caller counts whole).

    Returns
    -------
    part : dict
        ``predictions``, ``learning_curves`` and ``transfer_reports``
        (DataFrames) and ``global_models`` (name -> fitted global model,
        when ``fitted_global`` was given).
    """
    t0 = time.perf_counter()
    is_local = np.asarray(library.groups == domain)
    local, global_ = library.subset(is_local), library.subset(~is_local)
    Yl = local.Y.reset_index(drop=True).astype(np.float64)
    Yg = global_.Y.reset_index(drop=True).astype(np.float64)
    say = progress.write if progress is not None else _print
    if verbose:
        say(f"{tag} domain {domain!r}: {len(local)} local samples, "
            f"{len(global_)} global samples, {len(tests)} repeat(s)")
    out = {"predictions": [], "learning_curves": [], "transfer_reports": []}

    def record(name, est, repeat, test, pred, interval=None):
        spec = specs[name]
        if test is not None:
            out["predictions"].append(_prediction_rows(
                domain, repeat, name, spec.training, local, Yl, test, pred, interval))
        meta = {"domain": domain, "repeat": repeat, "model": name, "training": spec.training}
        out["learning_curves"] += _learning_curves(est, meta, library.target_names)
        out["transfer_reports"] += _transfer_reports(est, meta, library.target_names)

    keep_global = fitted_global is not None
    fitted_global = dict(fitted_global or {})
    for name, spec in specs.items():
        if spec.training == "global":
            if name not in fitted_global:
                est = _prepare(spec, verbose)
                # Domain labels too, for the models that request them
                # (per-domain standardisation, grouped inner CV).
                _started(progress, domain, name)
                fitted_global[name] = _fit(est, global_.X, Yg, name, domain,
                                           groups=np.asarray(global_.groups))
                _done(progress)
            record(name, fitted_global[name], pd.NA, None, None)

    # Sample ids where they repeat (replicate scans): the local fits that take
    # groups hold a sample's scans out together in their own folds.
    ids = None if local.sample_ids is None else np.asarray(local.sample_ids).astype(str)
    replicates = ids is not None and pd.unique(ids).size < ids.size
    for repeat, test in enumerate(tests):
        train = np.setdiff1d(np.arange(len(local)), test)
        local_groups = ids[train] if replicates else None
        X_test = local.X.iloc[test]
        for name, spec in specs.items():
            if spec.training != "global":
                _started(progress, domain, name)
            if spec.training == "global":
                est = fitted_global[name]
            elif spec.training == "local":
                est = _prepare(spec, verbose)
                est = _fit(est, local.X.iloc[train], Yl.iloc[train], name, domain, repeat,
                           groups=local_groups, sample_ids=True)
            elif spec.training == "transfer":
                est = _prepare(spec, verbose, warm_start_from=fitted_global[spec.source],
                               library=global_)
                est = _fit(est, local.X.iloc[train], Yl.iloc[train], name, domain, repeat,
                           groups=local_groups, sample_ids=True)
            else:  # spiked
                est = _prepare(spec, verbose, local_domain=domain)
                X = pd.concat([global_.X, local.X.iloc[train]])
                Y = pd.concat([Yg, Yl.iloc[train]], ignore_index=True)
                groups = np.concatenate([global_.groups, local.groups[train]])
                est = _fit(est, X, Y, name, domain, repeat, groups=groups)
            if spec.training != "global":
                _done(progress)
            pred, interval = _predict_with_interval(est, X_test, len(library.target_names))
            record(name, est if spec.training != "global" else None, repeat, test, pred,
                   interval)
    # With a live bar the bar shows the time; without one (a log file) this
    # line is the record of how long the domain took.
    if verbose >= 2 or (verbose and (progress is None or not progress.live)):
        say(f"{tag} domain {domain!r} done in {time.perf_counter() - t0:.1f} s")
    return {
        "predictions": pd.concat(out["predictions"], ignore_index=True),
        "learning_curves": pd.DataFrame(out["learning_curves"]),
        "transfer_reports": pd.DataFrame(out["transfer_reports"]),
        "global_models": fitted_global if keep_global else {},
    }


def _prepare(spec, verbose, warm_start_from=None, local_domain=None, library=None):
    """A fresh, unfitted copy of the spec's estimator ready for this fit."""
    # skorch prints one line per epoch at verbose=1: only at the experiment's
    # verbose >= 2, so that verbose=1 gives one line per domain.
    est = with_verbosity(spec.estimator, verbose >= 2)
    if local_domain is not None:
        key = param_ending(est, "local_domain")
        if key is not None:
            est.set_params(**{key: local_domain})
    if warm_start_from is not None:
        # Set after the clone above: clone would copy the fitted model unfitted.
        est.set_params(**{source_parameter(est): warm_start_from})
    if library is not None and param_ending(est, "library") is not None:
        # A localised model weighs library-based members (MBL, spiking) too;
        # the global library of this domain never holds its rows.
        est.set_params(**{param_ending(est, "library"): library})
    return est if spec.native_missing() else PerTargetRegressor(est)


def _fit(est, X, Y, name, domain, repeat=None, groups=None, sample_ids=False):
    # Named targets: the CNN names its heads after them, so a global model's
    # heads match the local ones by property when warm starting.
    names = list(Y.columns)
    y = Y.iloc[:, 0] if len(names) == 1 else Y
    if groups is not None and sample_ids and not sample_ids_are_safe(est):
        # Its groups are domains: sample ids would be read as one domain per
        # sample (a network standardising per domain would learn nothing).
        if repeat == 0:
            warnings.warn(
                f"Model {name!r} on domain {domain!r}: the sample ids of the replicate scans "
                "are not passed to it, because a part of it takes groups as domains; its own "
                "inner validation may split a sample's scans. The test rows are split by "
                "sample all the same.", UserWarning, stacklevel=2)
        groups = None
    try:
        if groups is not None and takes_sample_groups(est):
            return est.fit(X, y, groups=groups)
        if groups is not None and requests_groups(est):
            # Metadata routing delivers groups to whichever step requested
            # them, through Pipelines and the per-target wrapper.
            with config_context(enable_metadata_routing=True):
                return est.fit(X, y, groups=groups)
        return est.fit(X, y)
    except Exception as exc:
        # A note, not a new exception: the caller still sees the original type
        # (ValueError for bad data) and learns which fit failed.
        if hasattr(exc, "add_note"):
            where = f"domain {domain!r}" + ("" if repeat is None else f", repeat {repeat}")
            exc.add_note(f"while fitting model {name!r} on {where}")
        raise


def _predict(est, X, n_targets):
    pred = np.asarray(est.predict(X), dtype=np.float64)
    return pred.reshape(pred.shape[0], n_targets)


def _print(message):
    print(message, flush=True)


def _started(progress, domain, name):
    if progress is not None:
        progress.start(domain, name)


def _done(progress):
    if progress is not None:
        progress.done()


def _predict_with_interval(est, X, n_targets):
    """Predictions and, where the model gives them, its intervals (else None).

    A model whose ``predict`` takes ``return_interval`` (the localised
    model, also as a Pipeline's last step) gives both from one pass: its
    memory-based candidate fits a local model per spectrum.
    """
    last = est.steps[-1][1] if isinstance(est, Pipeline) else est
    if "return_interval" in inspect.signature(last.predict).parameters:
        pred, lower, upper = (np.asarray(a, dtype=np.float64).reshape(-1, n_targets)
                              for a in est.predict(X, return_interval=True))
        return pred, (lower, upper)
    return _predict(est, X, n_targets), _predict_interval(est, X, n_targets)


def _predict_interval(est, X, n_targets):
    """(lower, upper) of shape (n, n_targets) where the model gives intervals, else None.

    Any fitted model with ``predict_interval(X)`` returning ``(lower, upper)``
    counts (:class:`~sklearn_soilspec.localised.LocalisedRegressor` does),
    also as the last step of a Pipeline or inside the per-property wrapper.
    """
    if isinstance(est, PerTargetRegressor):
        parts = [_predict_interval(sub, X, 1) for sub in est.estimators_]
        if any(p is None for p in parts):
            return None
        return tuple(np.column_stack([p[i][:, 0] for p in parts]) for i in (0, 1))
    if isinstance(est, Pipeline):
        last = est.steps[-1][1]
        if not hasattr(last, "predict_interval"):
            return None
        Xt = X
        for _, step in est.steps[:-1]:
            if step is not None and step != "passthrough":
                Xt = step.transform(Xt)
        return _predict_interval(last, Xt, n_targets)
    if not hasattr(est, "predict_interval"):
        return None
    lower, upper = est.predict_interval(X)
    lower = np.asarray(lower, dtype=np.float64).reshape(-1, n_targets)
    upper = np.asarray(upper, dtype=np.float64).reshape(-1, n_targets)
    return lower, upper


def _prediction_rows(domain, repeat, name, training, local, Yl, test, pred, interval=None):
    n, k = pred.shape
    names = list(local.target_names)
    rows = pd.DataFrame({
        "domain": domain,
        "repeat": repeat,
        "model": name,
        "training": training,
        "target": np.repeat(np.asarray(names, dtype=object)[None, :], n, axis=0).ravel(),
        "sample_id": np.repeat(local.sample_ids[test], k),
        "observed": Yl.to_numpy()[test].ravel(),
        "predicted": pred.ravel(),
    })
    if interval is not None:
        # Optional columns: absent from every row block of models without
        # intervals, NaN there once the blocks are joined.
        rows["lower"], rows["upper"] = interval[0].ravel(), interval[1].ravel()
    return rows


def _fitted_parts(est, target_names, target=None):
    """(target, estimator) for every fitted step that may carry a history."""
    if isinstance(est, PerTargetRegressor):
        for t, sub in zip(target_names, est.estimators_):
            yield from _fitted_parts(sub, target_names, t)
    elif isinstance(est, Pipeline):
        for _, step in est.steps:
            yield from _fitted_parts(step, target_names, target)
    elif isinstance(getattr(est, "estimators_", None), list) and est.estimators_:
        # Seed ensembles and blends: their first member's curve stands for
        # the model (every seed of an ensemble trains the same way).
        yield from _fitted_parts(est.estimators_[0], target_names, target)
    else:
        yield target, est


def _learning_curves(est, meta, target_names):
    rows = []
    if est is None:
        return rows
    for target, part in _fitted_parts(est, target_names):
        for entry in getattr(part, "history_", None) or []:
            # Losses are on each model's own target scaling (a warm-started
            # model keeps its source's), so only the per-property validation
            # RMSE in original units compares models.
            rmse = {k: v for k, v in entry.items() if k.startswith("valid_rmse_")}
            rows.append({**meta, "target": target, "epoch": entry.get("epoch"),
                         "train_loss": entry.get("train_loss"),
                         "valid_loss": entry.get("valid_loss"), **rmse})
    return rows


def _transfer_reports(est, meta, target_names):
    rows = []
    if est is None:
        return rows
    for target, part in _fitted_parts(est, target_names):
        report = getattr(part, "transfer_report_", None)
        if report:
            flat = pd.json_normalize(report, sep=".").iloc[0].to_dict()
            rows.append({**meta, "target": target, **flat})
    return rows
