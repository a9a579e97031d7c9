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
    localised_model : str or None
        The model the report leads with: the one named ``"localised"`` when
        there is one, else the transfer model whose RMSE change against the
        best simple choice is lowest on average over domains x properties;
        None when there is neither.
    headline : DataFrame
        Per domain x property: ``localised_model`` against the best simple
        choice (the lowest pooled RMSE of the other non-transfer models:
        local, spiked, and the global model as it is), its % RMSE change
        (negative = the localised model is better) and the paired bootstrap
        p-value. The simple choice is picked on the test predictions
        themselves, which favours it: a gain shown here is not flattered.
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
        self.localised_model = self._pick_localised()
        self.headline = self._headline(random_state)

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
                    row["p_value"] = _paired_p(preds[(domain, target, tr["model"])],
                                               preds[(domain, target, best_other["model"])],
                                               random_state)
                row["transfer_better"] = bool(row["rmse_change_pct"] < 0)
                row["significant"] = bool(row["transfer_better"] and row["p_value"] < self.alpha)
                rows.append(row)
        return pd.DataFrame(rows, columns=[
            "domain", "target", "transfer_model", "transfer_rmse", "best_model",
            "second_best_model", "best_other_model", "best_other_rmse", "rmse_change_pct",
            "p_value", "transfer_better", "significant"])

    def _simple_scores(self, exclude):
        """Pooled scores of the simple choices: every non-transfer model but ``exclude``."""
        pooled = self.scores_pooled
        return pooled[(pooled["training"] != "transfer") & (pooled["model"] != exclude)]

    def _pick_localised(self):
        if "localised" in self.trainings:
            return "localised"
        transfer = [m for m, t in self.trainings.items() if t == "transfer"]
        if len(transfer) <= 1:
            return transfer[0] if transfer else None
        pooled = self.scores_pooled.dropna(subset=["rmse"])
        best = self._simple_scores(None).groupby(["domain", "target"])["rmse"].min()
        change = {}
        for model in transfer:
            own = pooled[pooled["model"] == model].set_index(["domain", "target"])["rmse"]
            ratio = (own / best.reindex(own.index)).dropna()
            # Ratios on a log scale: halving and doubling weigh the same.
            change[model] = np.log(ratio).mean() if len(ratio) else np.inf
        return min(transfer, key=lambda m: change[m])

    def _headline(self, random_state):
        columns = ["domain", "target", "localised_model", "localised_rmse", "simple_model",
                   "simple_training", "simple_rmse", "rmse_change_pct", "p_value",
                   "localised_better", "significant"]
        model = self.localised_model
        if model is None:
            return pd.DataFrame(columns=columns)
        pooled = self.scores_pooled.dropna(subset=["rmse"])
        simple = self._simple_scores(model).dropna(subset=["rmse"])
        preds = {key: block for key, block in self.predictions.groupby(_KEYS, sort=False)}
        rows = []
        for (domain, target), own in pooled[pooled["model"] == model].groupby(
                ["domain", "target"], sort=False):
            own = own.iloc[0]
            others = simple[(simple["domain"] == domain) & (simple["target"] == target)]
            row = {"domain": domain, "target": target, "localised_model": model,
                   "localised_rmse": own["rmse"], "simple_model": None,
                   "simple_training": None, "simple_rmse": np.nan, "p_value": np.nan}
            if len(others):
                best = others.sort_values("rmse").iloc[0]
                row.update(simple_model=best["model"], simple_training=best["training"],
                           simple_rmse=best["rmse"],
                           p_value=_paired_p(preds[(domain, target, model)],
                                             preds[(domain, target, best["model"])],
                                             random_state))
            row["rmse_change_pct"] = 100.0 * (row["localised_rmse"] / row["simple_rmse"] - 1.0)
            row["localised_better"] = bool(row["rmse_change_pct"] < 0)
            row["significant"] = bool(row["localised_better"] and row["p_value"] < self.alpha)
            rows.append(row)
        return pd.DataFrame(rows, columns=columns)

    def gain_per_target(self):
        """Per property: in how many domains the localised model beat the simple choice.

        Returns
        -------
        table : DataFrame
            ``target``, ``n_domains``, ``helped`` (lower RMSE than the best
            simple choice), ``significant`` (of those, at p < ``alpha``),
            ``significantly_worse`` (higher RMSE at p < ``alpha``),
            ``median_change_pct``, ``best_change_pct`` and
            ``worst_change_pct``; one row per property, in the library's order.
        """
        columns = ["target", "n_domains", "helped", "significant", "significantly_worse",
                   "median_change_pct",
                   "best_change_pct", "worst_change_pct"]
        head = self.headline.dropna(subset=["rmse_change_pct"])
        rows = []
        for target in self.targets:
            block = head[head["target"] == target]
            if block.empty:
                continue
            change = block["rmse_change_pct"]
            rows.append({"target": target, "n_domains": len(block),
                         "helped": int(block["localised_better"].sum()),
                         "significant": int(block["significant"].sum()),
                         "significantly_worse": int(((~block["localised_better"])
                                                     & (block["p_value"] < self.alpha)).sum()),
                         "median_change_pct": change.median(),
                         "best_change_pct": change.min(), "worst_change_pct": change.max()})
        return pd.DataFrame(rows, columns=columns)

    def advice(self):
        """What the experiment says to do, in one sentence per property.

        Returns
        -------
        lines : list of str
            Empty when there is no localised or transfer model to judge.
        """
        model = self.localised_model
        gain = self.gain_per_target()
        if model is None or gain.empty:
            return []
        lines = []
        for row in gain.itertuples(index=False):
            leans = row.helped > row.n_domains / 2 and row.median_change_pct < 0
            better, worse = row.significant, row.significantly_worse
            if worse and not better:
                verdict = "keep the simple choice"
            elif better and (worse or not leans):
                verdict = "it depends on the site: choose per site from the headline table"
            elif better:
                verdict = "use it"
            else:
                # A few dozen test samples rarely separate two good models;
                # a verdict either way would be noise.
                verdict = (f"no site differs significantly, and it leans to "
                           f"{'the localised model' if leans else 'the simple choice'}: "
                           "more test samples would decide (more repeats, or the data's own "
                           "folds)")
            lines.append(
                f"{model} helped in {row.helped} of {row.n_domains} site(s) for {row.target} "
                f"(median RMSE change {row.median_change_pct:+.1f} % against the best simple "
                f"model; p < {self.alpha:g}: {row.significant} better, "
                f"{row.significantly_worse} worse): {verdict}.")
        return lines

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
        return "\n".join(lines + self.advice())

    def to_csv(self, folder):
        """Write every table to ``folder`` as CSV.

        Returns
        -------
        paths : list of pathlib.Path
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ("scores", "scores_pooled", "comparison", "headline", "predictions",
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


def _paired_p(a, b, random_state):
    """p-value of the paired bootstrap RMSE test of two models' prediction blocks."""
    cols = ["repeat", "sample_id", "observed", "predicted"]
    pair = a[cols].merge(b[cols[:2] + ["predicted"]], on=["repeat", "sample_id"],
                         suffixes=("_a", "_b"))
    test = paired_rmse_test(pair["observed"], pair["predicted_a"], pair["predicted_b"],
                            sample_ids=pair["sample_id"], random_state=random_state)
    return test["p_value"]


def _score(predictions, keys):
    if predictions.empty:
        return pd.DataFrame(columns=keys + _METRICS)
    rows = [
        {**dict(zip(keys, key)),
         **regression_scores(block["observed"].to_numpy(), block["predicted"].to_numpy())}
        for key, block in predictions.groupby(keys, sort=False)
    ]
    return pd.DataFrame(rows, columns=keys + _METRICS)
