"""Figures of an experiment's report (matplotlib, optional).

Figures are built with :class:`matplotlib.figure.Figure` and saved through the
Agg canvas, never through pyplot: no window opens and nothing depends on the
user's backend or on global pyplot state (safe in threads and on servers).
"""

import numpy as np
import pandas as pd

__all__ = [
    "plot_rmse_change",
    "plot_rmse_bars",
    "plot_observed_predicted",
    "plot_learning_curves",
]


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "Plots need matplotlib: pip install 'sklearn-soilspec[plot]'."
        ) from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_rmse_change(result):
    """Heat map of the localised model's % RMSE change against the best simple choice.

    Sites (domains) in rows, properties in columns, from
    :attr:`ExperimentResult.headline`: a diverging colour map centred at 0,
    blue where the localised model lowers the RMSE, red where it raises it,
    the change and the simple model it is measured against written in every
    cell (``*``: significant at the result's ``alpha``). Relative changes
    keep sites comparable where a global model's raw errors would dominate a
    bar chart.

    Parameters
    ----------
    result : ExperimentResult

    Returns
    -------
    fig : matplotlib.figure.Figure or None
        None when the result has no localised or transfer model.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> from sklearn_soilspec.experiments import LocalisationExperiment, ModelSpec
    >>> from sklearn_soilspec.experiments._figures import plot_rmse_change
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 10))
    >>> lib = SpectralLibrary(X=X, Y=X[:, :1] + 0.1 * rng.normal(size=(80, 1)),
    ...                       groups=np.repeat(["a", "b"], 40),
    ...                       wavelengths=np.arange(400.0, 410.0), target_names=["OC"])
    >>> result = LocalisationExperiment(
    ...     models={"local": Ridge(), "localised": Ridge(alpha=10.0),
    ...             "global": ModelSpec(Ridge(), training="global")},
    ...     n_repeats=2, verbose=0).run(lib)
    >>> fig = plot_rmse_change(result)
    >>> fig.axes[0].get_ylabel()
    'site'
    """
    head = result.headline
    if head.empty:
        return None
    table = head.set_index(["domain", "target"])["rmse_change_pct"].unstack()
    domains = list(pd.unique(head["domain"]))
    targets = [t for t in result.targets if t in table.columns]
    table = table.reindex(index=domains, columns=targets)
    values = table.to_numpy(dtype=float)
    cells = head.set_index(["domain", "target"])
    finite = values[np.isfinite(values)]
    # Symmetric limits centre the diverging map at 0; at least +-5 % so that
    # a run of tiny changes is not painted as strong colour, at most +-100 %
    # so that one site that doubles its error does not wash out the rest
    # (the cell's number still tells).
    vmax = float(np.clip(np.abs(finite).max(), 5.0, 100.0)) if finite.size else 5.0
    fig = _figure(max(3.5, 1.3 * len(targets) + 2.2), max(2.2, 0.45 * len(domains) + 1.3))
    ax = fig.subplots()
    from matplotlib import colormaps

    cmap = colormaps["RdBu_r"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-vmax, vmax=vmax,
                      aspect="auto")
    for i, domain in enumerate(domains):
        for j, target in enumerate(targets):
            v = values[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize="small")
                continue
            cell = cells.loc[(domain, target)]
            star = "*" if bool(cell["significant"]) else ""
            ax.text(j, i, f"{v:+.0f} %{star}\nvs {cell['simple_model']}", ha="center",
                    va="center", fontsize="x-small",
                    color="white" if abs(v) > 0.6 * vmax else "black")
    ax.set_xticks(np.arange(len(targets)), [str(t) for t in targets])
    ax.set_yticks(np.arange(len(domains)), [str(d) for d in domains])
    ax.set_xlabel("property")
    ax.set_ylabel("site")
    ax.set_title(f"{result.localised_model}: RMSE change against the best simple model",
                 fontsize="small")
    fig.colorbar(image, ax=ax, label="% RMSE change (negative: better)", shrink=0.9)
    return fig


def plot_rmse_bars(result):
    """Bar chart of the pooled RMSE per domain, one panel per property.

    Parameters
    ----------
    result : ExperimentResult

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> from sklearn_soilspec.experiments import LocalisationExperiment, ModelSpec, plot_rmse_bars
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 10))
    >>> lib = SpectralLibrary(X=X, Y=X[:, :1] + 0.1 * rng.normal(size=(80, 1)),
    ...                       groups=np.repeat(["a", "b"], 40),
    ...                       wavelengths=np.arange(400.0, 410.0), target_names=["OC"])
    >>> result = LocalisationExperiment(
    ...     models={"local": Ridge(), "global": ModelSpec(Ridge(), training="global")},
    ...     n_repeats=2, verbose=0).run(lib)
    >>> fig = plot_rmse_bars(result)
    >>> [ax.get_title() for ax in fig.axes]
    ['OC']
    >>> import os, tempfile
    >>> fig.savefig(os.path.join(tempfile.mkdtemp(), "rmse.png"))
    """
    pooled = result.scores_pooled
    models = list(result.trainings)
    domains = list(pd.unique(pooled["domain"]))
    width = max(5.0, 0.4 * len(domains) * max(1, len(models)) + 2)
    fig = _figure(width, 3.2 * len(result.targets))
    axes = fig.subplots(len(result.targets), 1, squeeze=False)[:, 0]
    bar = 0.8 / max(1, len(models))
    for ax, target in zip(axes, result.targets):
        block = pooled[pooled["target"] == target].set_index(["domain", "model"])["rmse"]
        for j, model in enumerate(models):
            heights = [block.get((d, model), np.nan) for d in domains]
            ax.bar(np.arange(len(domains)) + (j - (len(models) - 1) / 2) * bar, heights,
                   bar, label=model)
        ax.set_xticks(np.arange(len(domains)), [str(d) for d in domains])
        ax.set_ylabel(f"RMSE {target}{_unit(result, target)}")
        ax.set_title(target)
    axes[0].legend(fontsize="small", ncols=min(4, len(models)))
    return fig


def plot_observed_predicted(result, models=None):
    """Observed vs predicted test values, pooled over domains and repeats.

    One row per property, one column per model; the 1:1 line and the pooled
    RMSE and R2 are drawn in each panel. Where the predictions table has
    ``lower`` and ``upper`` for a model (its ``predict_interval``), the
    prediction intervals are drawn as vertical bars and their empirical
    coverage is given in the panel's title.

    Parameters
    ----------
    result : ExperimentResult
    models : list of str, default=None
        The models to draw (default: all).

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> from sklearn_soilspec.experiments import LocalisationExperiment, ModelSpec, plot_observed_predicted
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 10))
    >>> lib = SpectralLibrary(X=X, Y=X[:, :1] + 0.1 * rng.normal(size=(80, 1)),
    ...                       groups=np.repeat(["a", "b"], 40),
    ...                       wavelengths=np.arange(400.0, 410.0), target_names=["OC"])
    >>> result = LocalisationExperiment(
    ...     models={"local": Ridge(), "global": ModelSpec(Ridge(), training="global")},
    ...     n_repeats=2, verbose=0).run(lib)
    >>> fig = plot_observed_predicted(result)
    >>> len(fig.axes)  # one property x two models
    2
    >>> import os, tempfile
    >>> fig.savefig(os.path.join(tempfile.mkdtemp(), "observed_predicted.png"))
    """
    from ._metrics import r2, rmse

    preds = result.predictions
    models = list(result.trainings) if models is None else list(models)
    intervals = {"lower", "upper"} <= set(preds.columns)
    fig = _figure(2.4 * len(models) + 0.5, 2.4 * len(result.targets) + 0.3)
    axes = fig.subplots(len(result.targets), len(models), squeeze=False)
    for i, target in enumerate(result.targets):
        rows = preds[preds["target"] == target]
        obs_all = rows["observed"].to_numpy(dtype=float)
        finite = obs_all[np.isfinite(obs_all)]
        lims = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        for j, model in enumerate(models):
            ax = axes[i, j]
            sub = rows[rows["model"] == model]
            obs, pred = sub["observed"].to_numpy(float), sub["predicted"].to_numpy(float)
            title = f"{model}\nRMSE {rmse(obs, pred):.3g}, R² {r2(obs, pred):.2f}"
            for k, (domain, part) in enumerate(sub.groupby("domain", sort=False)):
                ax.scatter(part["observed"], part["predicted"], s=8, alpha=0.6, label=str(domain),
                           color=f"C{k}")
                if intervals:
                    _interval_bars(ax, part, f"C{k}")
            if intervals:
                coverage = _coverage(sub)
                if coverage is not None:
                    title += f", PI coverage {100 * coverage:.0f} %"
            ax.plot(lims, lims, color="0.3", lw=0.8)
            ax.set_title(title, fontsize="small")
            if j == 0:
                ax.set_ylabel(f"predicted {target}")
            if i == len(result.targets) - 1:
                ax.set_xlabel(f"observed {target}")
    axes[0, 0].legend(fontsize="x-small", title="domain", title_fontsize="x-small")
    return fig


def _interval_bars(ax, part, color):
    """Vertical bars from ``lower`` to ``upper`` at each observed value."""
    ok = np.isfinite(part[["observed", "lower", "upper"]].to_numpy(dtype=float)).all(axis=1)
    if ok.any():
        p = part[ok]
        ax.vlines(p["observed"], p["lower"], p["upper"], color=color, lw=0.6, alpha=0.35)


def _coverage(sub):
    """Share of measured test values inside their interval (None without intervals)."""
    obs, lo, hi = (sub[c].to_numpy(dtype=float) for c in ("observed", "lower", "upper"))
    ok = np.isfinite(obs) & ~np.isnan(lo) & ~np.isnan(hi)
    if not ok.any():
        return None
    return float(np.mean((lo[ok] <= obs[ok]) & (obs[ok] <= hi[ok])))


def plot_learning_curves(result, repeat=0):
    """Validation error over epochs: transfer against local training.

    The study's view of positive or negative transfer: a transfer model
    whose curve starts and stays below the local model's has gained from
    the global library. Where the models record the validation RMSE per
    property in its units (the CNN does), one panel per domain and property
    shows it; the losses are not comparable between models, since a
    warm-started model keeps its source's target scaling. Otherwise one
    panel per domain shows the losses, training losses dashed. Curves of the
    first repeat (``repeat``).

    Parameters
    ----------
    result : ExperimentResult
    repeat : int, default=0
        Which repeat's curves to draw.

    Returns
    -------
    fig : matplotlib.figure.Figure or None
        None when no local or transfer model recorded a history.

    Examples
    --------
    A global network, and local and transfer ones on each domain (tiny, for
    speed):

    >>> import numpy as np
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> from sklearn_soilspec.experiments import (LocalisationExperiment, ModelSpec,
    ...                                           plot_learning_curves)
    >>> from sklearn_soilspec.neural import SpectralCNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 16))
    >>> lib = SpectralLibrary(X=X, Y=X[:, :1], groups=np.repeat(["a", "b"], 30),
    ...                       wavelengths=np.arange(400.0, 416.0), target_names=["OC"])
    >>> cnn = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
    ...                                           "head_units": 8}, max_epochs=2, random_state=0)
    >>> models = {"local": cnn, "global": ModelSpec(cnn, training="global"),
    ...           "transfer": ModelSpec(cnn, training="transfer", source="global")}
    >>> result = LocalisationExperiment(models=models, n_repeats=1, verbose=0).run(lib)
    >>> fig = plot_learning_curves(result)
    >>> [ax.get_title() for ax in fig.axes if ax.get_visible()]
    ['a: OC', 'b: OC']
    >>> import os, tempfile
    >>> fig.savefig(os.path.join(tempfile.mkdtemp(), "learning_curves.png"))
    """
    curves = result.learning_curves
    if curves.empty:
        return None
    curves = curves[curves["training"].isin(["local", "transfer"]) & (curves["repeat"] == repeat)]
    if curves.empty:
        return None
    domains = list(pd.unique(curves["domain"]))
    rmse_cols = [c for c in curves.columns
                 if c.startswith("valid_rmse_") and curves[c].notna().any()]
    if rmse_cols:
        return _plot_rmse_curves(result, curves, domains, rmse_cols)
    ncols = min(3, len(domains))
    nrows = -(-len(domains) // ncols)
    fig = _figure(4.0 * ncols, 3.0 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax, domain in zip(axes, domains):
        sub = curves[curves["domain"] == domain]
        groups = sub.groupby(["model", "target"], dropna=False, sort=False)
        for k, ((model, target), part) in enumerate(groups):
            label = model if pd.isna(target) else f"{model} ({target})"
            color = f"C{k}"
            ax.plot(part["epoch"], part["valid_loss"], color=color, label=f"{label} valid")
            ax.plot(part["epoch"], part["train_loss"], color=color, ls="--", lw=0.8)
        ax.set_title(str(domain))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (dashed: training)")
        ax.legend(fontsize="x-small")
    for ax in axes[len(domains):]:
        ax.set_visible(False)
    return fig


def _plot_rmse_curves(result, curves, domains, rmse_cols):
    fig = _figure(3.6 * len(rmse_cols), 2.8 * len(domains))
    axes = fig.subplots(len(domains), len(rmse_cols), squeeze=False)
    for i, domain in enumerate(domains):
        sub = curves[curves["domain"] == domain]
        for j, col in enumerate(rmse_cols):
            ax = axes[i, j]
            target = col[len("valid_rmse_"):]
            for k, (model, part) in enumerate(sub.groupby("model", sort=False)):
                if part[col].notna().any():
                    ax.plot(part["epoch"], part[col], color=f"C{k}", label=model)
            ax.set_title(f"{domain}: {target}", fontsize="small")
            ax.set_xlabel("epoch")
            ax.set_ylabel(f"validation RMSE{_unit(result, target)}")
            ax.legend(fontsize="x-small")
    return fig


def _unit(result, target):
    unit = result.config.get("target_units", {}).get(target)
    return f" ({unit})" if unit and len(unit) < 12 else ""
