"""LocalisedRegressor on LimeSoDa: leave-one-site-out, each site's own 10 folds as test folds.

Every LimeSoDa site of one kind is in turn the local data set and the other
sites the global library. One global network per site is trained on the
library with ``train_source_model`` (per-site standardisation); each of the
site's LimeSoDa folds is then a test fold, the rest of the site the local
training set. In the same run, on the same folds:

``localised``
    ``LocalisedRegressor(source, library=...)``, local spectra on the site's
    full range;
``plsr_tuned_common``, ``plsr_tuned_full``
    local PLSR with its preprocessing (SG derivative or SNV) chosen per
    property by inner CV, on the grid shared by the sites and on the site's
    full range;
``gpr_full``
    a Gaussian process on principal components of the SG derivative, full
    range;
``source``
    the global network as it is;
``mbl``
    memory-based learning on the library spiked with the local rows;
``plain_recipe``
    the study's recipe (Padarian et al., 2019): a global network with pooled
    standardisation, fine-tuned with its convolutions frozen and early
    stopping on 10 % of the local rows.

Two variants of that recipe test the study's own claims on the same folds:

``study_2d``
    the study's configuration: the 2-D spectrogram network
    (``architecture="spectrogram2d"`` on
    :class:`~sklearn_soilspec.preprocessing.Spectrogram` images of the
    resampled spectra), multi-task, trained on the library with pooled
    standardisation and fine-tuned with its convolutions frozen;
``plain_single``
    ``plain_recipe`` single-task: one global 1-D network per property, each
    fine-tuned on that property alone.

``--models`` runs a subset (the other models are left out of the tables).

With ``--sizes 10,20,40,80`` the run is a local-size curve instead: for
every test fold the fold's training rows are subsampled to n (one fixed
permutation per site and fold, its first n rows, so the smaller sets are
nested and every model sees the same rows), and every model is fitted on
those n rows; a size is skipped on a site where some fold has fewer
training rows. Its models are ``localised``, ``plsr_tuned_full``, ``source``
and the three transfer recipes. It writes
``localised_limesoda_<kind>_sizes.csv`` (rewritten after every fold) and
``.md`` (per size and property: % change of mean RMSE against
``plsr_tuned_full``, the cells, and every site's mean RMSE). ``--cache DIR``
keeps each site's global networks, so runs of one site with different
sizes can go in parallel and train them once.

``--candidates`` also writes, per site and fold, every candidate's
out-of-fold predictions of the training rows and predictions of the test
rows (``<out>/candidates/<site>_fold<k>.npz``, with ``--sizes``
``<site>_n<size>_fold<k>.npz``), from which
``combination_rules.py`` scores other combination rules without refitting.

Writes ``<out>/localised_limesoda_<kind>.md`` (RMSE per site, property and
model; % against ``plsr_tuned_full``; the options the localised model chose;
the command and wall time) and a CSV of every fold's RMSE.

    python benchmarks/localised_limesoda.py --sites UL.120 --folds 1,2 --quick
    python benchmarks/localised_limesoda.py --kind mir
    python benchmarks/localised_limesoda.py --sites MG.44 --sizes 10,20,40 --quick --out DIR
"""

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from sklearn_soilspec.baselines import (  # noqa: E402
    MemoryBasedRegressor,
    PCAGaussianProcessRegressor,
    PLSRegressionCV,
)
from sklearn_soilspec.datasets import load_limesoda_spectra  # noqa: E402
from sklearn_soilspec.ensemble import SelectorRegressor  # noqa: E402
from sklearn_soilspec.localised import (  # noqa: E402
    LocalisedRegressor,
    make_source_model,
    train_source_model,
)
from sklearn_soilspec.localised import _combine  # noqa: E402
from sklearn_soilspec.localised._members import FoldMean  # noqa: E402
from sklearn_soilspec.localised._recipes import REFITTED  # noqa: E402
from sklearn_soilspec.neural import SpectralCNNRegressor  # noqa: E402
from sklearn_soilspec.preprocessing import (  # noqa: E402
    SNV,
    SavitzkyGolay,
    Spectrogram,
    WavelengthResampler,
)

REFERENCE = "plsr_tuned_full"
MODELS = ("localised", "plsr_tuned_common", "plsr_tuned_full", "gpr_full", "source", "mbl",
          "plain_recipe", "study_2d", "plain_single")
# What the size curve fits: PLSR on the common grid, the GP and MBL are in
# the localised model's candidates already, and the curve is about few rows.
SIZE_MODELS = ("localised", "plsr_tuned_full", "source", "plain_recipe", "study_2d",
               "plain_single")


def sg():
    return SavitzkyGolay(window_length=11, polyorder=2, deriv=1)


def plsr_tuned(seed, max_components):
    def pls():
        return PLSRegressionCV(max_components=max_components, cv=5, random_state=seed)

    return SelectorRegressor([("sg", Pipeline([("sg", sg()), ("pls", pls())])),
                              ("snv", Pipeline([("snv", SNV()), ("pls", pls())]))],
                             cv=5, random_state=seed)


def cnn_sizes(quick, epochs):
    if quick:
        size = dict(max_epochs=60, patience=15, lr=3e-3,
                    module_params={"channels": (8, 16, 32), "shared_units": (64,),
                                   "head_units": 32})
    else:
        size = dict(max_epochs=200, patience=30, lr=1e-3)
    if epochs is not None:
        size["max_epochs"] = epochs
    return size


def rmse(Y, P):
    Y, P = np.asarray(Y, dtype=float), np.asarray(P, dtype=float)
    ok = ~np.isnan(Y)
    return np.sqrt(np.where(ok, (P - Y) ** 2, 0.0).sum(0) / np.maximum(ok.sum(0), 1))


def spectrogram_sizes(quick, epochs):
    """The 2-D network's sizes: the study's widths, or quick ones as narrow as the 1-D quick net."""
    size = cnn_sizes(quick, epochs)
    if quick:
        size["module_params"] = {"channels": ((8,), (16, 16), (32, 32)), "shared_units": (64,),
                                 "head_units": 32}
    return size


def spectrogram_net(grid, seed, size, **extra):
    # The study's input: spectrogram images (Hann window of 100 points, 50
    # overlapping, log power) of the spectra on the source's grid.
    return Pipeline([
        ("resample", WavelengthResampler(target=grid)), ("spectrogram", Spectrogram()),
        ("cnn", SpectralCNNRegressor(architecture="spectrogram2d", batch_size=32,
                                     validation_fraction=0.1, random_state=seed, **size,
                                     **extra)),
    ]).set_output(transform="pandas")


def plain_net(grid, seed, size, source):
    return Pipeline([
        ("resample", WavelengthResampler(target=grid)), ("sg", sg()),
        ("cnn", SpectralCNNRegressor(warm_start_from=source, freeze_layers="features",
                                     validation_fraction=0.1, batch_size=32,
                                     random_state=seed, **size)),
    ]).set_output(transform="pandas")


class Site:
    """One site as the local data set: its rows, its library and the global models."""

    def __init__(self, kind, site, args, models):
        lib = load_limesoda_spectra(kind)
        self.common, self.glob = lib.split_domain(site)
        self.full = load_limesoda_spectra(kind, sites=[site])
        assert (self.common.sample_ids == self.full.sample_ids).all()
        self.site, self.args, self.models = site, args, models
        self.size = cnn_sizes(args.quick, args.epochs)
        self.names = list(self.full.Y.columns)
        self.max_comp = 10 if args.quick else 20
        size, seed, fast, glob = self.size, args.seed, args.quick, self.glob
        t0 = time.time()
        cache = None
        if args.cache:
            # The global models of a site depend only on these settings, so
            # runs of the same site (different sizes, in parallel) share them.
            cache = Path(args.cache) / (f"{kind}_{site}_q{int(fast)}_e{args.epochs}_s{seed}_"
                                        + "-".join(sorted(models)) + ".joblib")
            if cache.exists():
                self.__dict__.update(joblib.load(cache))
                print(f"{site}: global networks loaded from {cache}", flush=True)
                return
        self.source = train_source_model(glob, fast=fast, random_state=seed, **size)
        if {"plain_recipe", "plain_single", "study_2d"} & set(models):
            self.pooled = make_source_model(fast=fast, random_state=seed, **size).fit(
                glob.X, glob.Y)
            self.grid = self.pooled[0].target_wavelengths_
        if "plain_single" in models:
            # The study's single-task comparison: one network per property.
            self.single = {p: make_source_model(fast=fast, random_state=seed, **size).fit(
                glob.X, glob.Y[[p]]) for p in self.names}
        if "study_2d" in models:
            self.size_2d = spectrogram_sizes(args.quick, args.epochs)
            self.source_2d = spectrogram_net(self.grid, seed, self.size_2d).fit(glob.X, glob.Y)
        print(f"{site}: global networks trained in {time.time() - t0:.0f} s", flush=True)
        if cache is not None:
            keep = ("source", "pooled", "grid", "single", "size_2d", "source_2d")
            cache.parent.mkdir(parents=True, exist_ok=True)
            joblib.dump({k: getattr(self, k) for k in keep if hasattr(self, k)},
                        cache.with_suffix(".tmp"))
            cache.with_suffix(".tmp").rename(cache)

    def predict(self, model, train, test):
        """Fit ``model`` on the local rows ``train`` (indices) and predict the rows ``test``."""
        a, full, common, glob = self.args, self.full, self.common, self.glob
        Xf, Xc, Y = full.X.iloc[train], common.X.iloc[train], full.Y.iloc[train]
        if model == "localised":
            with record_candidates() as seen:
                m = LocalisedRegressor(self.source, library=glob, n_seeds=a.n_seeds,
                                       random_state=a.seed).fit(Xf, Y)
            if a.candidates:
                save_candidates(Path(a.out) / "candidates" / f"{self.cell}.npz",
                                m, seen, Xf, Y, full.X.iloc[test], full.Y.iloc[test])
            return m.predict(full.X.iloc[test]), m
        if model == "plsr_tuned_common":
            return plsr_tuned(a.seed, self.max_comp).fit(Xc, Y).predict(common.X.iloc[test]), None
        if model == "plsr_tuned_full":
            return plsr_tuned(a.seed, self.max_comp).fit(Xf, Y).predict(full.X.iloc[test]), None
        if model == "gpr_full":
            gpr = Pipeline([("sg", sg()), ("gpr", PCAGaussianProcessRegressor(
                random_state=a.seed))])
            return gpr.fit(Xf, Y).predict(full.X.iloc[test]), None
        if model == "source":
            return self.source.predict(common.X.iloc[test]), None
        if model == "mbl":
            X_all, Y_all = pd.concat([glob.X, Xc]), pd.concat([glob.Y, Y])
            is_local = np.r_[np.zeros(len(glob.X), bool), np.ones(len(train), bool)]
            mbl = Pipeline([("sg", sg()), ("mbl", MemoryBasedRegressor(
                n_neighbors=50 if a.quick else 100,
                pls_components=(3, 10) if a.quick else (3, 15), spike=True))])
            return mbl.fit(X_all, Y_all, mbl__is_local=is_local).predict(
                common.X.iloc[test]), None
        if model == "plain_recipe":
            net = plain_net(self.grid, a.seed, self.size, self.pooled)
            return net.fit(Xc, Y).predict(common.X.iloc[test]), None
        if model == "plain_single":
            cols = [np.asarray(plain_net(self.grid, a.seed, self.size, self.single[p]).fit(
                Xc, Y[[p]]).predict(common.X.iloc[test]), dtype=float).reshape(-1)
                for p in self.names]
            return np.column_stack(cols), None
        if model == "study_2d":
            net = spectrogram_net(self.grid, a.seed, self.size_2d, warm_start_from=self.source_2d,
                                  freeze_layers="features")
            return net.fit(Xc, Y).predict(common.X.iloc[test]), None
        raise ValueError(f"Unknown model {model!r}")

    def score(self, model, train, test, row):
        """Fit and predict, and one row per property: RMSE and seconds."""
        t = time.time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            P, fitted = self.predict(model, train, test)
        for w in {str(w.message).splitlines()[0][:160] for w in caught}:
            if w not in SEEN_WARNINGS:
                SEEN_WARNINGS.add(w)
                print(f"    warning ({self.site}, {model}): {w}", flush=True)
        seconds = time.time() - t
        P = np.asarray(P, dtype=float).reshape(len(test), -1)
        Yte = self.full.Y.iloc[test].to_numpy(dtype=float)
        out = [dict(row, property=prop, model=model, rmse=rmse(Yte[:, [j]], P[:, [j]])[0],
                    n_test=len(test), seconds=seconds) for j, prop in enumerate(self.names)]
        return P, fitted, out


SEEN_WARNINGS = set()


@contextlib.contextmanager
def record_candidates():
    """Keep what ``LocalisedRegressor.fit`` cross-fits: members, out-of-fold predictions, fold models.

    The fitted model keeps only the candidates that got weight; scoring other
    combination rules afterwards (``combination_rules.py``) needs every
    candidate's out-of-fold predictions on the training rows and its
    predictions of the test rows.
    """
    seen, original = {}, _combine.cross_fit_members

    def spy(estimators, X, Y, splits, *args, **kwargs):
        out = original(estimators, X, Y, splits, *args, **kwargs)
        seen.update(members=dict(estimators), P=out[0], fold_models=out[1])
        return out

    _combine.cross_fit_members = spy
    try:
        yield seen
    finally:
        _combine.cross_fit_members = original


# A property measured in fewer of the source's validation rows than this gets
# the median gap of its other properties: the RMSE of a handful of rows is noise.
MIN_VALIDATION_ROWS = 10


def source_gap(model):
    """Per local property, the source network's validation over training RMSE (at least 1).

    As the network recorded them when it was trained
    (``training_summary_["rmse"]``), for the fourth round of
    ``seen_rows_rule.py``; NaN where the source recorded none.
    """
    source = getattr(model, "source_", None)
    final = source.steps[-1][1] if isinstance(source, Pipeline) else source
    errors = (getattr(final, "training_summary_", None) or {}).get("rmse")
    gap = np.full(len(model.target_names_), np.nan)
    if not errors:
        return gap

    def ratio(name):
        train = errors.get("training", {}).get(name)
        valid = errors.get("validation", {}).get(name)
        if (train and valid and train > 0
                and errors.get("n_validation", {}).get(name, 0) >= MIN_VALIDATION_ROWS):
            return max(1.0, valid / train)
        return np.nan

    ratios = {str(n): ratio(str(n)) for n in final.target_names_}
    known = [r for r in ratios.values() if np.isfinite(r)]
    if not known:
        return gap
    for j, name in enumerate(model.target_names_):
        if name in ratios:
            gap[j] = ratios[name] if np.isfinite(ratios[name]) else float(np.median(known))
    return gap


def save_candidates(path, model, seen, X_train, Y_train, X_test, Y_test):
    """Every candidate's out-of-fold and test predictions, as the fitted model would make them.

    A candidate that got weight predicts as in the model; one that did not is
    refitted on all local rows where the model refits it (``REFITTED``), else
    the mean of its fold models, as the model would have used it.
    """
    names = list(seen["members"])
    X_te = np.asarray(X_test, dtype=np.float64)
    test = []
    for name in names:
        if name in model.members_:
            fitted = model.members_[name]
        elif name in REFITTED:
            fitted = clone(seen["members"][name]).fit(np.asarray(X_train, dtype=np.float64),
                                                      Y_train.to_numpy(dtype=np.float64))
        else:
            fitted = FoldMean(seen["fold_models"][name])
        test.append(np.asarray(fitted.predict(X_te), dtype=np.float64).reshape(len(X_te), -1))
    cols = [None if getattr(m, "columns", None) is None else sorted(m.columns)
            for m in seen["members"].values()]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, names=np.array(names), targets=np.array(model.target_names_),
        oof=seen["P"], test=np.stack(test), y_train=Y_train.to_numpy(dtype=np.float64),
        y_test=Y_test.to_numpy(dtype=np.float64),
        columns=np.array([json.dumps(c) for c in cols]),
        weights=model.weights_.reindex(names).fillna(0.0).to_numpy(),
        n_library_overlap=getattr(model, "n_library_overlap_", 0),
        source_seen=getattr(model, "source_seen_", np.zeros(len(X_train), dtype=bool)),
        source_gap=source_gap(model))


def run_site(kind, site, folds, args, rows, choices, pooled_rows):
    s = Site(kind, site, args, args.models)
    full, names = s.full, s.names
    # Every test prediction of the site, for pooled R2 (the anchors' protocol:
    # metrics once on the pooled out-of-fold predictions) and interval coverage.
    oof = {m: np.full(full.Y.shape, np.nan) for m in args.models}
    lower, upper = np.full(full.Y.shape, np.nan), np.full(full.Y.shape, np.nan)
    for fold in folds:
        in_test = np.asarray(full.folds) == fold
        if not in_test.any():
            continue
        test, train = np.flatnonzero(in_test), np.flatnonzero(~in_test)
        t = time.time()
        s.cell = f"{site}_fold{fold}"
        for m in args.models:
            P, fitted, out = s.score(m, train, test, dict(site=site, fold=fold))
            rows += out
            oof[m][test] = P
            if m == "localised":
                lo, hi = fitted.predict_interval(full.X.iloc[test], coverage=0.9)
                lower[test] = np.asarray(lo).reshape(len(test), -1)
                upper[test] = np.asarray(hi).reshape(len(test), -1)
                rep = fitted.localisation_report_
                for _, r in rep[rep.candidate == "localised"].iterrows():
                    choices.append(dict(site=site, fold=fold, property=r.property,
                                        option=r.option))
        print(f"  fold {fold}: all models {time.time() - t:.0f} s", flush=True)
    Y = full.Y.to_numpy(dtype=float)
    key = "localised" if "localised" in oof else args.models[0]
    for j, prop in enumerate(names):
        ok = ~np.isnan(Y[:, j]) & ~np.isnan(oof[key][:, j])
        sst = ((Y[ok, j] - Y[ok, j].mean()) ** 2).sum()
        for m in args.models:
            sse = ((oof[m][ok, j] - Y[ok, j]) ** 2).sum()
            pooled_rows.append(dict(site=site, property=prop, model=m,
                                    rmse=np.sqrt(sse / max(ok.sum(), 1)),
                                    r2=1 - sse / sst if sst > 0 else np.nan, n=int(ok.sum())))
        if "localised" in oof:
            inside = (Y[ok, j] >= lower[ok, j]) & (Y[ok, j] <= upper[ok, j])
            pooled_rows.append(dict(site=site, property=prop, model="interval_90",
                                    coverage=float(inside.mean()) if ok.any() else np.nan,
                                    n=int(ok.sum())))


def run_site_sizes(kind, site, folds, args, rows):
    """The size curve of one site: every fold's training rows subsampled to each size."""
    s = Site(kind, site, args, args.models)
    fold_of = np.asarray(s.full.folds)
    # A size is run on every fold or on none, so each cell has the same folds.
    fewest = min(int((fold_of != f).sum()) for f in folds if (fold_of == f).any())
    sizes = [n for n in args.sizes if n <= fewest]
    if len(sizes) < len(args.sizes):
        print(f"{site}: sizes {[n for n in args.sizes if n > fewest]} skipped (a fold has only "
              f"{fewest} training rows)", flush=True)
    # Size-major, the CSV rewritten after every fold: an interrupted run
    # still leaves every fold of its smaller sizes.
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        for fold in folds:
            in_test = fold_of == fold
            if not in_test.any():
                continue
            test, train = np.flatnonzero(in_test), np.flatnonzero(~in_test)
            # One permutation per site and fold; its first n rows are the
            # local set of size n (nested sets, the same for every model).
            order = np.random.default_rng([args.seed, fold]).permutation(train)
            t = time.time()
            s.cell = f"{site}_n{n}_fold{fold}"
            for m in args.models:
                rows += s.score(m, np.sort(order[:n]), test,
                                dict(site=site, fold=fold, size=n))[2]
            print(f"  n={n}, fold {fold}: all models {time.time() - t:.0f} s", flush=True)
            pd.DataFrame(rows).to_csv(out / f"localised_limesoda_{kind}_sizes.csv", index=False)


# Anchor property names (the LimeSoDa authors' files) for ours; R2 does not
# change with the linear unit conversions of harmonisation (SOM -> OC).
_ANCHOR_PROPERTY = {"OC": ("SOC", "SOM"), "pH": ("pH",), "clay": ("Clay",)}


def _against_best_baseline(cell):
    baselines = [m for m in cell.columns if m != "localised"]
    best = cell[baselines].min(axis=1)
    ratio = cell["localised"] / best
    pct = 100 * (np.exp(np.log(ratio).groupby(level="property").mean()) - 1)
    pct.loc["all"] = 100 * (np.exp(np.log(ratio).mean()) - 1)
    return ratio, pct, cell[baselines].idxmin(axis=1)


def _anchor_lines(pooled, path):
    anchors = pd.read_csv(path)
    ours = pooled[pooled.model == "localised"].set_index(["site", "property"])["r2"]
    lines, wins, deltas = [], 0, []
    for (site, prop), r2 in ours.items():
        rows = anchors[(anchors.Dataset == site)
                       & anchors.Property.isin(_ANCHOR_PROPERTY.get(prop, (prop,)))]
        if rows.empty or np.isnan(r2):
            continue
        best = rows.R2.max()
        wins += r2 > best
        deltas.append(r2 - best)
        lines.append(f"| {site} | {prop} | {r2:.3f} | {best:.3f} "
                     f"({rows.loc[rows.R2.idxmax(), 'learning_algorithm']}) |")
    head = [f"Localised R2 above the best of the four learners in {wins} of {len(deltas)} "
            f"cells; mean R2 difference {np.mean(deltas):+.3f}.", "",
            "| site | property | localised R2 | best anchor R2 |", "|---|---|---:|---:|"]
    return head + lines


def wall_phrase(wall):
    """The report's wall-time phrase; a report combined from earlier runs has none of its own."""
    if np.isfinite(wall):
        return f"Wall time {wall:.0f} s"
    return "Combined from the runs named above (their own reports give their wall times)"


def report(rows, choices, args, wall, pooled_rows=()):
    df = pd.DataFrame(rows)
    cell = df.groupby(["site", "property", "model"])["rmse"].mean().unstack("model")
    cell = cell[[m for m in MODELS if m in cell.columns]]
    ratio = cell.div(cell[REFERENCE], axis=0)
    pct = 100 * (np.exp(np.log(ratio).groupby(level="property").mean()) - 1)
    pct.loc["all"] = 100 * (np.exp(np.log(ratio).mean()) - 1)
    lines = [f"# LocalisedRegressor on LimeSoDa {args.kind}", "",
             "    python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "",
             f"{wall_phrase(wall)}; folds {args.folds}; sites {sorted(df.site.unique())}.",
             "", "## Mean RMSE over the test folds", "",
             "| site | property | " + " | ".join(cell.columns) + " |",
             "|---|---|" + "---:|" * len(cell.columns)]
    for (site, prop), r in cell.iterrows():
        lines.append(f"| {site} | {prop} | " + " | ".join(f"{v:.3f}" for v in r) + " |")
    lines += ["", f"## % change of RMSE against `{REFERENCE}` (geometric mean over sites)", "",
              "| property | " + " | ".join(pct.columns) + " |",
              "|---|" + "---:|" * len(pct.columns)]
    for prop, r in pct.iterrows():
        lines.append(f"| {prop} | " + " | ".join(f"{v:+.1f}" for v in r) + " |")
    # log(localised / model) per cell; per property, mean over the sites.
    by_prop = np.log(1.0 / cell.div(cell["localised"], axis=0)).groupby(level="property").mean()
    base = [m for m in cell.columns if m != "localised"]
    lines += ["", "## % change of RMSE against the best baseline of each property", "",
              "The baseline with the lowest mean RMSE for the property over the sites (the "
              "target: at least 10 % lower); geometric mean over sites.", "",
              "| property | best baseline | % vs it |", "|---|---|---:|"]
    for prop, r in by_prop.iterrows():
        b = r[base].idxmax()  # the baseline with the lowest mean RMSE of this property
        lines.append(f"| {prop} | `{b}` | {100 * (np.exp(r[b]) - 1):+.1f} |")
    ratio, vs_best, best_name = _against_best_baseline(cell)
    lines += ["", "## % change of RMSE against the best baseline of each site and property", "",
              "The best of every other model of the table, chosen per cell on the test folds "
              "(so the baseline gets the benefit of hindsight); geometric mean over sites.", "",
              "| property | % vs best baseline |", "|---|---:|"]
    lines += [f"| {prop} | {v:+.1f} |" for prop, v in vs_best.items()]
    worse = ratio[ratio > 1.03]
    lines += ["", f"Cells more than 3 % worse than their best baseline: {len(worse)} of "
              f"{len(ratio)}" + (": " + ", ".join(
                  f"{s} {p} {100 * (v - 1):+.1f} % (vs {best_name[(s, p)]})"
                  for (s, p), v in worse.items()) if len(worse) else "") + "."]
    pooled = pd.DataFrame(list(pooled_rows))
    if len(pooled):
        cov = pooled[pooled.model == "interval_90"]
        weights = cov["n"] / cov.groupby("property")["n"].transform("sum")
        by_prop = (cov["coverage"] * weights).groupby(cov["property"]).sum()
        lines += ["", "## Empirical coverage of the 90 % prediction interval (pooled over sites)",
                  "", "| property | coverage |", "|---|---:|"]
        lines += [f"| {p} | {100 * v:.1f} % |" for p, v in by_prop.items()]
        r2 = pooled[pooled.model != "interval_90"].pivot_table(
            index=["site", "property"], columns="model", values="r2")
        lines += ["", "## Pooled R2 of the test folds", "",
                  "| site | property | " + " | ".join(c for c in MODELS if c in r2) + " |",
                  "|---|---|" + "---:|" * sum(c in r2 for c in MODELS)]
        for (site, prop), r in r2.iterrows():
            lines.append(f"| {site} | {prop} | " + " | ".join(
                f"{r[c]:.3f}" for c in MODELS if c in r2) + " |")
        if args.anchors:
            lines += ["", "## Against the LimeSoDa authors' benchmark (same folds, pooled R2)",
                      ""] + _anchor_lines(pooled, args.anchors)
    lines += ["", "## What the localised model chose", "", "| site | fold | property | option |",
              "|---|---:|---|---|"]
    lines += [f"| {c['site']} | {c['fold']} | {c['property']} | {c['option']} |"
              for c in choices]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if len(pooled):
        pooled.to_csv(out / f"localised_limesoda_{args.kind}_pooled.csv", index=False)
    (out / f"localised_limesoda_{args.kind}.md").write_text("\n".join(lines) + "\n")
    df.to_csv(out / f"localised_limesoda_{args.kind}_folds.csv", index=False)
    pd.DataFrame(choices).to_csv(out / f"localised_limesoda_{args.kind}_choices.csv", index=False)
    print("\n".join(lines))


def report_sizes(rows, args, wall):
    """Tables of the size curve: % against local PLSR per size and property, and every cell."""
    df = pd.DataFrame(rows)
    # Only sizes run on every fold of a site make cells (an interrupted run
    # leaves some folds of its last size).
    wanted = 10 if args.folds == "all" else len(args.folds.split(","))
    done = df.groupby(["size", "site"])["fold"].transform("nunique") == wanted
    partial = sorted({(r.site, int(r.size)) for r in df[~done].itertuples()})
    full_df, df = df, df[done]
    if df.empty:
        raise SystemExit(f"No size was run on every fold of a site (partial: {partial}).")
    cell = df.groupby(["size", "site", "property", "model"])["rmse"].mean().unstack("model")
    cols = [m for m in MODELS if m in cell.columns]
    cell = cell[cols]
    ratio = np.log(cell.div(cell[REFERENCE], axis=0))
    by_prop = ratio.groupby(level=["size", "property"]).mean()
    overall = ratio.groupby(level="size").mean()
    overall.index = pd.MultiIndex.from_arrays([overall.index, ["all"] * len(overall)],
                                              names=["size", "property"])
    pct = 100 * (np.exp(pd.concat([by_prop, overall])) - 1)
    pct = pct.sort_index(key=lambda i: i.map(lambda v: (v == "all", v)) if i.name == "property"
                         else i)
    n_cells = ratio.groupby(level=["size", "property"]).size()
    n_cells = pd.concat([n_cells, ratio.groupby(level="size").size().set_axis(overall.index)])
    better = (ratio["localised"] < 0).groupby(level=["size", "property"]).sum() \
        if "localised" in ratio else None
    if better is not None:
        better = pd.concat([better, (ratio["localised"] < 0).groupby(level="size").sum()
                            .set_axis(overall.index)])
    secs = df.groupby(["size", "model"])["seconds"].mean().unstack("model")
    sites = sorted(df.site.unique())
    lines = [f"# Local-size curve of LocalisedRegressor on LimeSoDa {args.kind}", "",
             "    python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "",
             f"{wall_phrase(wall)}; folds {args.folds}; sites {sites}; sizes "
             f"{sorted(df['size'].unique().tolist())}. Each fold's training rows subsampled to "
             "n (nested, the same rows for every model); a size above a fold's training rows "
             "is skipped." + (" Left out, not run on every fold: " + ", ".join(
                 f"{site} n={n}" for site, n in partial) + "." if partial else ""), "",
             f"## % change of mean RMSE against `{REFERENCE}` (geometric mean over sites)", "",
             "Cells: site x property pairs; `loc better`: cells where `localised` has the lower "
             "mean RMSE.", "",
             "| n | property | cells | loc better | " + " | ".join(cols) + " |",
             "|---:|---|---:|---:|" + "---:|" * len(cols)]
    for (n, prop), r in pct.iterrows():
        b = "" if better is None else int(better[(n, prop)])
        lines.append(f"| {n} | {prop} | {int(n_cells[(n, prop)])} | {b} | "
                     + " | ".join(f"{v:+.1f}" for v in r) + " |")
    mean = cell.groupby(level=["size", "property"]).mean()
    lines += ["", "## Mean RMSE, averaged over the sites (units of each property)", "",
              "| n | property | " + " | ".join(cols) + " |", "|---:|---|" + "---:|" * len(cols)]
    for (n, prop), r in mean.iterrows():
        lines.append(f"| {n} | {prop} | " + " | ".join(f"{v:.3f}" for v in r) + " |")
    lines += ["", "## Mean seconds per fold fit (all properties), under the shared machine's load",
              "", "| n | " + " | ".join(c for c in cols if c in secs) + " |",
              "|---:|" + "---:|" * sum(c in secs for c in cols)]
    for n, r in secs.iterrows():
        lines.append(f"| {n} | " + " | ".join(f"{r[c]:.1f}" for c in cols if c in secs) + " |")
    lines += ["", "## Mean RMSE over the test folds", "",
              "| n | site | property | folds | " + " | ".join(cols) + " |",
              "|---:|---|---|---:|" + "---:|" * len(cols)]
    n_folds = df.groupby(["size", "site", "property"])["fold"].nunique()
    for (n, site, prop), r in cell.iterrows():
        lines.append(f"| {n} | {site} | {prop} | {n_folds[(n, site, prop)]} | "
                     + " | ".join(f"{v:.3f}" for v in r) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"localised_limesoda_{args.kind}_sizes.md").write_text("\n".join(lines) + "\n")
    full_df.to_csv(out / f"localised_limesoda_{args.kind}_sizes.csv", index=False)
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=("visnir", "mir"), default="visnir")
    p.add_argument("--sites", nargs="*", default=None, help="local sites (default: all)")
    p.add_argument("--folds", default="all", help="all or a list like 1,2")
    p.add_argument("--quick", action="store_true",
                   help="small networks, 60 epochs, fewer components (minutes per site)")
    p.add_argument("--epochs", type=int, default=None, help="override the networks' epochs")
    p.add_argument("--n-seeds", type=int, default=1, help="fine-tuning runs per fold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "localised"))
    p.add_argument("--anchors", default=None,
                   help="optional CSV of the LimeSoDa authors' benchmark (Dataset, Property, "
                        "learning_algorithm, R2) to compare pooled R2 with")
    p.add_argument("--models", default=None,
                   help="comma-separated subset of " + ",".join(MODELS) + " (localised and "
                        f"{REFERENCE} always run); default all, or with --sizes "
                        + ",".join(SIZE_MODELS))
    p.add_argument("--sizes", default=None,
                   help="local-size curve: comma-separated numbers of local training rows, "
                        "e.g. 10,20,40,80")
    p.add_argument("--cache", default=None,
                   help="folder to keep each site's trained global networks in and load them "
                        "from (runs of one site in parallel train them once)")
    p.add_argument("--candidates", action="store_true",
                   help="also write every candidate's out-of-fold and test predictions of the "
                        "localised model, per site and fold, to <out>/candidates/ (for "
                        "combination_rules.py)")
    p.add_argument("--combine", nargs="+", metavar="DIR", default=None,
                   help="write the report of earlier runs (their CSV files in these folders, "
                        "e.g. sites run in parallel) instead of running")
    args = p.parse_args(argv)
    args.sizes = None if args.sizes is None else [int(n) for n in args.sizes.split(",")]
    chosen = (args.models.split(",") if args.models else
              SIZE_MODELS if args.sizes else MODELS)
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown:
        p.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    args.models = [m for m in MODELS if m in set(chosen) | {"localised", REFERENCE}]
    if args.combine and args.sizes:
        read = pd.concat([pd.read_csv(Path(d) / f"localised_limesoda_{args.kind}_sizes.csv")
                          for d in args.combine], ignore_index=True)
        report_sizes(read.to_dict("records"), args, float("nan"))
        return
    if args.combine:
        read = {k: pd.concat([pd.read_csv(Path(d) / f"localised_limesoda_{args.kind}_{k}.csv")
                              for d in args.combine], ignore_index=True)
                for k in ("folds", "choices", "pooled")}
        if args.sites:
            read = {k: v[v["site"].isin(args.sites)] for k, v in read.items()}
        report(read["folds"].to_dict("records"), read["choices"].to_dict("records"), args,
               float("nan"), read["pooled"].to_dict("records"))
        return
    torch.set_num_threads(1)
    sites = args.sites or list(load_limesoda_spectra(args.kind).domains)
    folds = list(range(1, 11)) if args.folds == "all" else [int(f) for f in
                                                               args.folds.split(",")]
    rows, choices, pooled_rows, t0 = [], [], [], time.time()
    if args.sizes:
        for site in sites:
            run_site_sizes(args.kind, site, folds, args, rows)
        report_sizes(rows, args, time.time() - t0)
        return
    for site in sites:
        run_site(args.kind, site, folds, args, rows, choices, pooled_rows)
    report(rows, choices, args, time.time() - t0, pooled_rows)


if __name__ == "__main__":
    main()
