"""A figure of a localisation report."""

import numpy as np

__all__ = ["plot_localisation"]


def plot_localisation(report, ax=None):
    """Bar chart of the candidates' out-of-fold RMSE per property, weights written on them.

    Each property's RMSEs are divided by that of its best candidate, so that
    properties in different units share one axis; the localised combination
    is the dark bar, and each candidate's weight is written above its bar.

    Parameters
    ----------
    report : DataFrame
        ``LocalisedRegressor.localisation_report_``.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_soilspec.localised import plot_localisation
    >>> report = pd.DataFrame({"property": ["OC"] * 3, "candidate": ["source", "plsr",
    ...                        "localised"], "oof_rmse": [2.0, 1.0, 0.9],
    ...                        "weight": [0.0, 1.0, 1.0]})
    >>> ax = plot_localisation(report)
    >>> len(ax.patches)
    3
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError(
            "plot_localisation needs matplotlib: pip install matplotlib.") from exc
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    props = list(dict.fromkeys(report["property"]))
    cands = [c for c in dict.fromkeys(report["candidate"]) if c != "localised"] + ["localised"]
    width = 0.8 / len(cands)
    cmap = plt.get_cmap("tab10")
    for k, cand in enumerate(cands):
        for p, prop in enumerate(props):
            row = report[(report["property"] == prop) & (report["candidate"] == cand)]
            if row.empty or not np.isfinite(row["oof_rmse"].iloc[0]):
                continue
            rows = report[(report["property"] == prop) & (report["candidate"] != "localised")]
            best = np.nanmin(rows["oof_rmse"].to_numpy(dtype=float))
            value = float(row["oof_rmse"].iloc[0]) / best
            x = p + (k - (len(cands) - 1) / 2) * width
            color = "0.2" if cand == "localised" else cmap(k % 10)
            ax.bar(x, value, width, color=color, label=cand if p == 0 else None)
            if cand != "localised":
                ax.text(x, value, f"{float(row['weight'].iloc[0]):.2f}", ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(range(len(props)), props)
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_ylabel("out-of-fold RMSE / best candidate")
    ax.legend(fontsize=7, ncol=3)
    return ax
