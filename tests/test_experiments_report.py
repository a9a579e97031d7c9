"""The experiment's progress bar and its report: what to do, heat map, HTML page."""

import io
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from sklearn_soilspec import _io
from sklearn_soilspec.datasets import SpectralLibrary
from sklearn_soilspec.experiments import LocalisationExperiment, ModelSpec
from sklearn_soilspec.experiments import _progress
from sklearn_soilspec.experiments._figures import plot_observed_predicted, plot_rmse_change

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class IntervalPLS(PLSRegression):
    """PLS with a residual-quantile prediction interval (as LocalisedRegressor gives)."""

    def fit(self, X, y):
        super().fit(X, y)
        resid = np.abs(np.asarray(y, dtype=float).reshape(len(X), -1)
                       - np.asarray(super().predict(X)).reshape(len(X), -1))
        self.halfwidth_ = np.quantile(resid, 0.9, axis=0)
        return self

    def predict_interval(self, X):
        pred = np.asarray(self.predict(X), dtype=float).reshape(len(X), -1)
        return pred - self.halfwidth_, pred + self.halfwidth_


class WarmPLS(RegressorMixin, BaseEstimator):
    """A transfer model: local PLS on the residuals of the global model it starts from."""

    def __init__(self, warm_start_from=None, n_components=2):
        self.warm_start_from = warm_start_from
        self.n_components = n_components

    def fit(self, X, y):
        base = self._base(X)
        self.pls_ = PLSRegression(self.n_components).fit(X, np.asarray(y) - base)
        return self

    def _base(self, X):
        if self.warm_start_from is None:
            return 0.0
        return np.asarray(self.warm_start_from.predict(X)).reshape(len(X), -1).squeeze()

    def predict(self, X):
        pred = np.asarray(self.pls_.predict(X)).reshape(len(X), -1).squeeze()
        return pred + self._base(X)


def _library():
    rng = np.random.default_rng(1)
    n_per, n_domains = 30, 3
    X = rng.normal(size=(n_per * n_domains, 12))
    shift = np.repeat(np.arange(n_domains), n_per)
    Y = np.c_[X[:, 0] + 0.5 * shift + 0.1 * rng.normal(size=len(X)), X[:, 1] - X[:, 2]]
    return SpectralLibrary(X=X, Y=Y, groups=np.repeat([f"d{i}" for i in range(n_domains)], n_per),
                           wavelengths=np.arange(400.0, 412.0), target_names=["OC", "pH"])


def _models(localised=True):
    models = {
        "pls_local": PLSRegression(2),
        "pls_global": ModelSpec(PLSRegression(3), training="global"),
        "pls_transfer": ModelSpec(WarmPLS(), training="transfer", source="pls_global",
                                  missing_targets="native"),
    }
    if localised:
        # A Pipeline inside the per-property wrapper: intervals found through both.
        models["localised"] = make_pipeline(StandardScaler(), IntervalPLS(2))
    return models


@pytest.fixture(scope="module")
def result():
    return LocalisationExperiment(models=_models(), n_repeats=2, test_size=0.2,
                                  verbose=0).run(_library())


# -- progress -------------------------------------------------------------------
class RecordingBar(tqdm):
    """A tqdm bar that is always drawn (into a buffer) and remembered."""

    bars = []

    def __init__(self, *args, **kwargs):
        kwargs.update(disable=False, file=io.StringIO())
        super().__init__(*args, **kwargs)
        self.steps = []
        RecordingBar.bars.append(self)

    def update(self, n=1):
        self.steps.append(n)
        return super().update(n)


@pytest.fixture
def bars(monkeypatch):
    RecordingBar.bars = []
    monkeypatch.setattr(_progress, "tqdm", RecordingBar)
    return RecordingBar.bars


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_progress_bar_total_is_the_number_of_fits(bars, n_jobs, capsys):
    LocalisationExperiment(models=_models(localised=False), n_repeats=2, test_size=0.2,
                           n_jobs=n_jobs, verbose=1).run(_library())
    (bar,) = bars
    # Per domain: the global model once, local and transfer models per repeat.
    assert bar.total == 3 * (1 + 2 * 2)
    assert bar.n == bar.total
    # Workers report every fit as it ends, not whole domains at the end.
    assert bar.steps == [1] * bar.total
    assert "pls_" in bar.format_dict["postfix"]
    if n_jobs is None:
        assert "domain d2, pls_transfer" in bar.format_dict["postfix"]
    # The lines of the domains go above the bar, from the workers too.
    out = capsys.readouterr().out
    assert all(f"[{i + 1}/3] domain 'd{i}'" in out for i in range(3))


def test_progress_relay_is_none_for_a_remote_backend(monkeypatch):
    # A dask worker may run elsewhere and cannot reach a local manager.
    monkeypatch.setattr(_progress, "_local_backend", lambda: False)
    with _progress.FitProgress(3, verbose=1) as progress, progress.relay() as reporter:
        assert reporter is None
    with _progress.FitProgress(3, verbose=0) as progress, progress.relay() as reporter:
        assert reporter is None


def test_progress_bar_skips_cached_global_fits(bars):
    experiment = LocalisationExperiment(models=_models(localised=False), n_repeats=1,
                                        target_domains=["d0"], cache_global=True, verbose=1)
    experiment.run(_library())
    experiment.run(_library())
    assert [b.total for b in bars] == [3, 2]
    assert [b.n for b in bars] == [3, 2]


def test_verbose_0_prints_nothing(capsys):
    LocalisationExperiment(models=_models(localised=False), n_repeats=1, verbose=0).run(
        _library())
    assert capsys.readouterr() == ("", "")


def test_bar_is_quiet_when_stderr_is_not_a_terminal(capsys):
    LocalisationExperiment(models=_models(localised=False), n_repeats=1, verbose=1).run(
        _library())
    io_ = capsys.readouterr()
    assert io_.err == ""
    # Without a bar the lines on stdout are the record, with each domain's time.
    assert "[2/3] domain 'd1'" in io_.out and "[2/3] domain 'd1' done in" in io_.out


# -- what the report says ----------------------------------------------------------
def test_headline_compares_localised_with_the_best_simple_choice(result):
    head = result.headline
    assert result.localised_model == "localised"
    assert len(head) == 3 * 2 and set(head["localised_model"]) == {"localised"}
    pooled = result.scores_pooled.set_index(["domain", "target", "model"])["rmse"]
    for row in head.itertuples():
        simple = {m: pooled[(row.domain, row.target, m)] for m in ("pls_local", "pls_global")}
        best = min(simple, key=simple.get)
        assert row.simple_model == best
        assert row.simple_rmse == pytest.approx(simple[best])
        own = pooled[(row.domain, row.target, "localised")]
        assert row.rmse_change_pct == pytest.approx(100 * (own / simple[best] - 1))
        assert row.localised_better == (own < simple[best])
        assert 0 <= row.p_value <= 1


def test_without_a_localised_model_the_best_transfer_model_leads():
    res = LocalisationExperiment(models=_models(localised=False), n_repeats=1, verbose=0).run(
        _library())
    assert res.localised_model == "pls_transfer"
    # The simple choice never is a transfer model.
    assert set(res.headline["simple_training"]) <= {"local", "global", "spiked"}


def test_gain_per_property_and_the_sentence(result):
    gain = result.gain_per_target()
    assert list(gain["target"]) == ["OC", "pH"]
    head = result.headline
    for row in gain.itertuples():
        block = head[head["target"] == row.target]
        assert row.n_domains == 3 and row.helped == block["localised_better"].sum()
        assert row.median_change_pct == pytest.approx(block["rmse_change_pct"].median())
        worse = (~block["localised_better"] & (block["p_value"] < result.alpha)).sum()
        assert row.significantly_worse == worse
    advice = result.advice()
    assert advice[0].startswith(f"localised helped in {gain['helped'].iloc[0]} of 3 site(s) "
                                "for OC")
    assert advice[0] in result.summary()


def test_intervals_are_recorded_where_a_model_gives_them(result):
    preds = result.predictions
    own = preds[preds["model"] == "localised"]
    assert own["lower"].notna().all() and own["upper"].notna().all()
    assert (own["lower"] <= own["predicted"]).all() and (own["predicted"] <= own["upper"]).all()
    assert preds.loc[preds["model"] != "localised", ["lower", "upper"]].isna().all().all()


def _interval_lines(fig):
    return sum(len(c.get_segments()) for ax in fig.axes for c in ax.collections
               if hasattr(c, "get_segments"))


def test_intervals_are_plotted_when_present(result):
    with_pi = plot_observed_predicted(result, models=["localised"])
    assert _interval_lines(with_pi) == (result.predictions["model"] == "localised").sum()
    assert "PI coverage" in with_pi.axes[0].get_title()
    without = plot_observed_predicted(result, models=["pls_local"])
    assert _interval_lines(without) == 0
    assert "PI coverage" not in without.axes[0].get_title()


def test_heat_map_has_a_cell_per_site_and_property(result):
    fig = plot_rmse_change(result)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (3, 2)
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi  # centred at 0
    texts = [t.get_text() for t in ax.texts]
    change = result.headline["rmse_change_pct"].iloc[0]
    assert any(t.startswith(f"{change:+.0f} %") for t in texts)


def test_report_files(result, tmp_path):
    path = result.write_report(tmp_path)
    text = path.read_text()
    assert (tmp_path / "rmse_change.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (tmp_path / "observed_predicted_localised.png").read_bytes().startswith(PNG_SIGNATURE)
    # The report leads with what to do; the detail follows.
    assert text.index("## What to do") < text.index("(rmse_change.png)") < \
        text.index("## Summary") < text.index("(rmse_bars.png)")
    assert "localised helped in" in text
    assert (tmp_path / "scores_pooled.csv").is_file() and (tmp_path / "headline.csv").is_file()
    # Every file of the report is one that a reused report folder cleans.
    assert {p.name for p in tmp_path.iterdir()} <= set(_io.REPORT_FILES)


def test_html_report_is_self_contained(result, tmp_path):
    result.write_report(tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    n_png = len([p for p in tmp_path.iterdir() if p.suffix == ".png"])
    assert page.count("data:image/png;base64,") == n_png >= 4
    assert not re.search(r"""src=["'](?!data:)""", page)
    assert "<script" not in page and "<link" not in page
    for heading in ("What to do", "Transfer gain or loss per property", "Summary"):
        assert f"<h2>{heading}</h2>" in page


def test_report_without_a_localised_or_transfer_model(tmp_path):
    models = {"pls_local": PLSRegression(2),
              "pls_global": ModelSpec(PLSRegression(3), training="global")}
    res = LocalisationExperiment(models=models, n_repeats=1, verbose=0).run(_library())
    assert res.localised_model is None and res.headline.empty and res.advice() == []
    assert plot_rmse_change(res) is None
    text = res.write_report(tmp_path).read_text()
    assert "No localised or transfer model was run" in text
    assert not (tmp_path / "rmse_change.png").exists()
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("helped, better, worse, median, verdict", [
    (3, 2, 0, -8.0, "use it"),
    (0, 0, 1, +9.0, "keep the simple choice"),
    (2, 1, 1, -2.0, "it depends on the site"),
    (1, 1, 0, +4.0, "it depends on the site"),
    # Nothing significant either way: the split cannot choose, whichever way it leans.
    (2, 0, 0, -3.0, "no site differs significantly, and it leans to the localised model"),
    (1, 0, 0, +11.9, "no site differs significantly, and it leans to the simple choice"),
])
def test_advice_says_no_more_than_the_test_samples_do(result, helped, better, worse, median,
                                                      verdict):
    gain = pd.DataFrame([{"target": "OC", "n_domains": 3, "helped": helped,
                          "significant": better, "significantly_worse": worse,
                          "median_change_pct": median, "best_change_pct": median,
                          "worst_change_pct": median}])
    result.gain_per_target = lambda: gain
    try:
        (line,) = result.advice()
    finally:
        del result.gain_per_target
    assert line.endswith(verdict + ".") or f"): {verdict}" in line


class OnePassPLS(IntervalPLS):
    """Predictions and intervals from one pass, as LocalisedRegressor.predict(return_interval=True)."""

    passes = []

    def predict(self, X, return_interval=False):
        OnePassPLS.passes.append(len(X))
        pred = np.asarray(super().predict(X), dtype=float).reshape(len(X), -1)
        if not return_interval:
            return pred
        return pred, pred - self.halfwidth_, pred + self.halfwidth_

    def predict_interval(self, X):
        raise AssertionError("the runner asked for a second pass")


def test_a_model_that_gives_both_at_once_is_asked_once():
    OnePassPLS.passes.clear()
    res = LocalisationExperiment(
        models={"localised": ModelSpec(make_pipeline(StandardScaler(), OnePassPLS(2)),
                                       missing_targets="native")},
        n_repeats=2, test_size=0.2, verbose=0).run(_library())
    own = res.predictions
    assert own["lower"].notna().all() and (own["lower"] <= own["predicted"]).all()
    # One pass per domain and repeat, none for intervals alone.
    assert len(OnePassPLS.passes) == 3 * 2
