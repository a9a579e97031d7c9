"""The report of an experiment: markdown and a self-contained HTML page.

Both say the same in the same order: first what to do (the localised model
against the best simple choice per site and property), then the detail.
"""

import io
from pathlib import Path

from ._figures import (
    plot_learning_curves,
    plot_observed_predicted,
    plot_rmse_bars,
    plot_rmse_change,
)
from ._html import _cell, render_html

__all__ = [
    "plot_learning_curves",
    "plot_observed_predicted",
    "plot_rmse_bars",
    "plot_rmse_change",
    "write_report",
]


def write_report(result, folder):
    """Write CSV tables, PNG figures, ``report.md`` and ``report.html`` into ``folder``.

    The report leads with what to do: per site and property, the localised
    model (:attr:`ExperimentResult.localised_model`) against the best simple
    choice as a heat map of % RMSE change, the gain or loss per property,
    and observed vs predicted values of the localised model (with its
    prediction intervals where it gives them). The detail follows: the
    study's summary, every transfer model against the best non-transfer
    one, the RMSE of every model, learning curves. ``report.html`` holds the
    same sections with every figure embedded, so it can be sent as one file.

    Parameters
    ----------
    result : ExperimentResult
    folder : str or path-like

    Returns
    -------
    path : pathlib.Path
        The markdown report.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> from sklearn_soilspec.experiments import LocalisationExperiment, ModelSpec, write_report
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 10))
    >>> lib = SpectralLibrary(X=X, Y=X[:, :1] + 0.1 * rng.normal(size=(80, 1)),
    ...                       groups=np.repeat(["a", "b"], 40),
    ...                       wavelengths=np.arange(400.0, 410.0), target_names=["OC"])
    >>> result = LocalisationExperiment(
    ...     models={"local": Ridge(), "global": ModelSpec(Ridge(), training="global")},
    ...     n_repeats=2, verbose=0).run(lib)
    >>> import os, tempfile
    >>> path = write_report(result, tempfile.mkdtemp())
    >>> path.name
    'report.md'
    >>> sorted(f for f in os.listdir(path.parent) if f.startswith("report"))
    ['report.html', 'report.md']
    >>> path.read_text().splitlines()[0]
    '# Localisation experiment'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result.to_csv(folder)
    sections = _sections(result)
    for _, blocks in sections:
        for block in blocks:
            if block[0] == "figure":
                (folder / block[1]).write_bytes(block[3])
    title = "Localisation experiment"
    (folder / "report.html").write_text(render_html(title, sections), encoding="utf-8")
    path = folder / "report.md"
    path.write_text(_render_markdown(title, sections), encoding="utf-8")
    return path


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _figure_block(name, caption, fig):
    return [] if fig is None else [("figure", name, caption, _png(fig))]


def _sections(result):
    """The report's sections, shared by the markdown and the HTML page."""
    model = result.localised_model
    sections = []
    if model is not None and not result.headline.empty:
        gain = result.gain_per_target()
        sections += [
            ("What to do", [
                ("p", f"Judged: {model} (the localised model) against the best simple "
                      "choice per site and property, the lowest RMSE of the non-transfer "
                      "models (local, spiked, and the global model as it is), picked on the "
                      "same test samples, which favours it."),
                ("advice", result.advice()),
            ]),
            ("RMSE change of the localised model against the best simple choice", [
                ("p", "Negative: the localised model is better. * marks a significant "
                      f"difference (paired bootstrap, p < {result.alpha:g})."),
                *_figure_block("rmse_change.png",
                               f"% RMSE change of {model} against the best simple model",
                               plot_rmse_change(result)),
            ]),
            ("Transfer gain or loss per property", [
                ("table", _rounded(gain)),
                ("p", "Per site and property:"),
                ("table", _rounded(result.headline)),
            ]),
            (f"Observed vs predicted: {model}", [
                ("p", "Test samples pooled over repeats"
                      + ("; bars are prediction intervals."
                         if _has_intervals(result, model) else ".")),
                *_figure_block("observed_predicted_localised.png",
                               f"Observed vs predicted, {model}",
                               plot_observed_predicted(result, models=[model])),
            ]),
        ]
    else:
        sections.append(("What to do", [
            ("p", "No localised or transfer model was run: compare the models by their "
                  "RMSE below."),
        ]))
    pooled = result.scores_pooled
    rmse_table = pooled.pivot_table(index=["domain", "target"], columns="model", values="rmse",
                                    sort=False).reindex(columns=list(result.trainings))
    sections += [
        ("Summary", [("pre", result.summary())]),
        ("Transfer against the best non-transfer model", [
            ("p", "Negative rmse_change_pct means transfer is better; p_value: paired "
                  "bootstrap of the RMSE difference over test samples (two-sided)."),
            ("table", result.comparison),
        ]),
        ("RMSE (test predictions pooled over repeats)", [("table", rmse_table.reset_index())]),
        ("RMSE per domain, property and model", _figure_block(
            "rmse_bars.png", "RMSE per domain, property and model",
            plot_rmse_bars(result))),
        ("Observed vs predicted (test sets)", _figure_block(
            "observed_predicted.png", "Observed vs predicted (test sets)",
            plot_observed_predicted(result))),
        ("Validation loss: transfer vs local", _figure_block(
            "learning_curves.png", "Validation loss: transfer vs local",
            plot_learning_curves(result))),
        ("Files", [("p", "scores.csv (per repeat), scores_pooled.csv, comparison.csv, "
                         "headline.csv, predictions.csv, learning_curves.csv, "
                         "transfer_reports.csv.")]),
    ]
    return [(title, blocks) for title, blocks in sections if blocks]


def _rounded(table):
    """Percentages to 0.1 %: a change of 1e-13 % reads as the 0 it is."""
    table = table.copy()
    for col in table.columns:
        if col.endswith("_pct"):
            table[col] = table[col].astype(float).round(1) + 0.0  # + 0.0: no "-0"
    return table


def _has_intervals(result, model):
    preds = result.predictions
    if not {"lower", "upper"} <= set(preds.columns):
        return False
    own = preds[preds["model"] == model]
    return bool(own["lower"].notna().any())


def _render_markdown(title, sections):
    lines = [f"# {title}", "", "Global, local and transfer models compared on each domain's "
             "held-out test samples (protocol of Padarian, Minasny & McBratney 2019).", ""]
    for heading, blocks in sections:
        lines += [f"## {heading}", ""]
        for block in blocks:
            kind = block[0]
            if kind == "p":
                lines += [block[1], ""]
            elif kind == "advice":
                lines += [f"- {line}" for line in block[1]] + [""]
            elif kind == "pre":
                lines += ["```", block[1], "```", ""]
            elif kind == "table":
                lines += [_markdown(block[1]), ""]
            else:  # figure
                lines += [f"![{block[2]}]({block[1]})", ""]
    return "\n".join(lines)


def _markdown(df):
    """A DataFrame as a GitHub markdown table (no extra dependency)."""
    if df.empty:
        return "_(none)_"
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])
