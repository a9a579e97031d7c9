"""What an experiment returns: tidy tables, the study's summary, CSV files."""

from pathlib import Path

import numpy as np
import pandas as pd

from ._metrics import regression_scores
from ._significance import paired_rmse_test

__all__ = ["ExperimentResult"]

_KEYS = ["domain", "target", "model"]
_METRICS = ["rmse", "r2", "bias", "rpiq", "ccc", "n"]


class ExperimentResult:
    """Tables and summary of a :class:`LocalisationExperiment` run.

    Every table is a tidy DataFrame (one row per observation of the thing it
    describes), ready for ``groupby``, ``pivot`` or a CSV file.

    Attributes
    ----------
    predictions : DataFrame
        One row per domain x repeat x model x test sample x property:
        ``observed`` and ``predicted`` (NaN where not measured).
    scores : DataFrame
        RMSE, R2, bias, RPIQ, CCC and n per domain x repeat x property x model.
    scores_pooled : DataFrame
        The same statistics on the test predictions of all repeats pooled per
        domain x property x model (what the study reports), plus
        ``rmse_sd`` (spread over repeats) and ``rank`` (1 = lowest RMSE).
    comparison : DataFrame
        Per domain x property x transfer model: the best and second-best
        models, the best non-transfer model, the % RMSE change of transfer
        against it (negative = transfer is better) and the p-value of the
        paired bootstrap test of the RMSE difference
        (:func:`paired_rmse_test`, resampling per sample).
    learning_curves : DataFrame
        ``train_loss`` and ``valid_loss`` per epoch of every fitted step with a
        ``history_`` (``repeat`` is missing for global models, fitted once per
        domain), and ``valid_rmse_<property>`` in the property's units where the
        step records it (:class:`~sklearn_soilspec.neural.SpectralCNNRegressor`
        does); losses of different models are on different target scalings.
    transfer_reports : DataFrame
        The flattened ``transfer_report_`` of every fitted transfer step.
    config : dict
        How the experiment was run.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_soilspec.datasets import SpectralLibrary
    >>> from sklearn_soilspec.experiments import LocalisationExperiment, ModelSpec
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 10))
    >>> lib = SpectralLibrary(X=X, Y=X[:, :1] + 0.1 * rng.normal(size=(80, 1)),
    ...                       groups=np.repeat(["a", "b"], 40),
    ...                       wavelengths=np.arange(400.0, 410.0), target_names=["OC"])
    >>> result = LocalisationExperiment(
    ...     models={"local": Ridge(), "global": ModelSpec(Ridge(), training="global")},
    ...     n_repeats=2, verbose=0).run(lib)
    >>> sorted(result.scores_pooled.columns[:4])
    ['domain', 'model', 'target', 'training']
    >>> result.write_report(tempfile.mkdtemp()).name
    'report.md'
    """

    def __init__(self, predictions, learning_curves, transfer_reports, specs, targets,
                 config, alpha=0.05, random_state=0):
        self.predictions = predictions
        self.learning_curves = learning_curves
        self.transfer_reports = transfer_reports
        self.trainings = {name: spec.training for name, spec in specs.items()}
        self.targets = list(targets)
        self.config = dict(config)
        self.alpha = alpha
        self.scores = _score(predictions, ["domain", "repeat", "target", "model"])
        self.scores_pooled = self._pool()
        self.comparison = self._compare(random_state)

    @classmethod
    def from_parts(cls, parts, **kwargs):
        """Join the per-domain outputs of the runner."""
        tables = {}
        for key in ("predictions", "learning_curves", "transfer_reports"):
            frames = [p[key] for p in parts if len(p[key])]
            df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            if "repeat" in df:
                df["repeat"] = df["repeat"].astype("Int64")
            tables[key] = df
        return cls(**tables, **kwargs)

    # -- tables --------------------------------------------------------------
    def _pool(self):
        pooled = _score(self.predictions, _KEYS)
        sd = self.scores.groupby(_KEYS, sort=False)["rmse"].std().rename("rmse_sd")
        pooled = pooled.join(sd, on=_KEYS)
        pooled.insert(3, "training", pooled["model"].map(self.trainings))
        pooled["rank"] = (
            pooled.groupby(["domain", "target"])["rmse"].rank(method="min").astype("Int64")
        )
        return pooled

    def _compare(self, random_state):
        rows = []
        preds = {key: block for key, block in self.predictions.groupby(_KEYS, sort=False)}
        for (domain, target), block in self.scores_pooled.groupby(["domain", "target"], sort=False):
            ranked = block.dropna(subset=["rmse"]).sort_values("rmse")
            if ranked.empty:
                continue
            others = ranked[ranked["training"] != "transfer"]
            best_other = others.iloc[0] if len(others) else None
            for _, tr in ranked[ranked["training"] == "transfer"].iterrows():
                row = {
                    "domain": domain,
                    "target": target,
                    "transfer_model": tr["model"],
                    "transfer_rmse": tr["rmse"],
                    "best_model": ranked["model"].iloc[0],
                    "second_best_model": ranked["model"].iloc[1] if len(ranked) > 1 else None,
                    "best_other_model": None if best_other is None else best_other["model"],
                    "best_other_rmse": np.nan if best_other is None else best_other["rmse"],
                }
                row["rmse_change_pct"] = 100.0 * (
                    row["transfer_rmse"] / row["best_other_rmse"] - 1.0)
                row["p_value"] = np.nan
                if best_other is not None:
                    cols = ["repeat", "sample_id", "observed", "predicted"]
                    pair = preds[(domain, target, tr["model"])][cols].merge(
                        preds[(domain, target, best_other["model"])][cols[:2] + ["predicted"]],
                        on=["repeat", "sample_id"], suffixes=("_a", "_b"),
                    )
                    test = paired_rmse_test(
                        pair["observed"], pair["predicted_a"], pair["predicted_b"],
                        sample_ids=pair["sample_id"], random_state=random_state,
                    )
                    row["p_value"] = test["p_value"]
                row["transfer_better"] = bool(row["rmse_change_pct"] < 0)
                row["significant"] = bool(row["transfer_better"] and row["p_value"] < self.alpha)
                rows.append(row)
        return pd.DataFrame(rows, columns=[
            "domain", "target", "transfer_model", "transfer_rmse", "best_model",
            "second_best_model", "best_other_model", "best_other_rmse", "rmse_change_pct",
            "p_value", "transfer_better", "significant"])

    # -- text and files --------------------------------------------------------
    def summary(self):
        """The study's headline in a few lines of text.

        Returns
        -------
        text : str
        """
        cfg = self.config
        lines = [
            f"{len(cfg.get('domains', []))} target domain(s) x {len(self.targets)} "
            f"propert{'y' if len(self.targets) == 1 else 'ies'}, "
            f"{cfg.get('n_repeats')} repeat(s) ({cfg.get('split')} split), "
            f"{len(self.trainings)} models."
        ]
        comp = self.comparison
        for model, block in comp.groupby("transfer_model", sort=False):
            n, k = len(block), int(block["transfer_better"].sum())
            sig = int(block["significant"].sum())
            lines.append(
                f"{model} better than the best non-transfer model in {k} of {n} "
                f"domain x property pairs ({sig} significant at p < {self.alpha:g})."
            )
            change = block.groupby("target", sort=False)["rmse_change_pct"].mean()
            lines.append(
                "  mean RMSE change per property: "
                + ", ".join(f"{t} {v:+.1f} %" for t, v in change.items())
            )
        best = self.scores_pooled[self.scores_pooled["rank"] == 1]["model"].value_counts()
        lines.append(
            "Best model per domain x property: "
            + ", ".join(f"{m} {c}" for m, c in best.items())
        )
        return "\n".join(lines)

    def to_csv(self, folder):
        """Write every table to ``folder`` as CSV.

        Returns
        -------
        paths : list of pathlib.Path
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ("scores", "scores_pooled", "comparison", "predictions",
                     "learning_curves", "transfer_reports"):
            path = folder / f"{name}.csv"
            getattr(self, name).to_csv(path, index=False)
            paths.append(path)
        return paths

    def write_report(self, folder):
        """Write the plots, the CSV tables and ``report.md`` to ``folder``.

        Needs matplotlib (``pip install sklearn-soilspec[plot]``).

        Returns
        -------
        path : pathlib.Path
            The markdown report.
        """
        from ._report import write_report

        return write_report(self, folder)

    def __repr__(self):
        return f"ExperimentResult(\n{self.summary()}\n)"


def _score(predictions, keys):
    if predictions.empty:
        return pd.DataFrame(columns=keys + _METRICS)
    rows = [
        {**dict(zip(keys, key)),
         **regression_scores(block["observed"].to_numpy(), block["predicted"].to_numpy())}
        for key, block in predictions.groupby(keys, sort=False)
    ]
    return pd.DataFrame(rows, columns=keys + _METRICS)
