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

Writes ``<out>/localised_limesoda_<kind>.md`` (RMSE per site, property and
model; % against ``plsr_tuned_full``; the options the localised model chose;
the command and wall time) and a CSV of every fold's RMSE.

    python benchmarks/localised_limesoda.py --sites UL.120 --folds 1,2 --quick
    python benchmarks/localised_limesoda.py --kind mir
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
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
from sklearn_soilspec.neural import SpectralCNNRegressor  # noqa: E402
from sklearn_soilspec.preprocessing import SNV, SavitzkyGolay, WavelengthResampler  # noqa: E402

REFERENCE = "plsr_tuned_full"
MODELS = ("localised", "plsr_tuned_common", "plsr_tuned_full", "gpr_full", "source", "mbl",
          "plain_recipe")


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


def run_site(kind, site, folds, args, rows, choices, pooled_rows):
    lib = load_limesoda_spectra(kind)
    common, glob = lib.split_domain(site)
    full = load_limesoda_spectra(kind, sites=[site])
    assert (common.sample_ids == full.sample_ids).all()
    size = cnn_sizes(args.quick, args.epochs)
    fast = args.quick
    t0 = time.time()
    source = train_source_model(glob, fast=fast, random_state=args.seed, **size)
    pooled = make_source_model(fast=fast, random_state=args.seed, **size).fit(glob.X, glob.Y)
    print(f"{site}: global networks trained in {time.time() - t0:.0f} s", flush=True)
    grid = pooled[0].target_wavelengths_
    names = list(full.Y.columns)
    max_comp = 10 if args.quick else 20
    # Every test prediction of the site, for pooled R2 (the anchors' protocol:
    # metrics once on the pooled out-of-fold predictions) and interval coverage.
    oof = {m: np.full(full.Y.shape, np.nan) for m in MODELS}
    lower, upper = np.full(full.Y.shape, np.nan), np.full(full.Y.shape, np.nan)
    for fold in folds:
        test = np.asarray(full.folds) == fold
        if not test.any():
            continue
        train = ~test
        Yte = full.Y[test].to_numpy()
        preds = {}
        t = time.time()
        model = LocalisedRegressor(source, library=glob, n_seeds=args.n_seeds,
                                   random_state=args.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(full.X[train], full.Y[train])
        preds["localised"] = model.predict(full.X[test])
        lo, hi = model.predict_interval(full.X[test], coverage=0.9)
        lower[test], upper[test] = np.asarray(lo).reshape(-1, len(full.Y.columns)), \
            np.asarray(hi).reshape(-1, len(full.Y.columns))
        rep = model.localisation_report_
        for _, r in rep[rep.candidate == "localised"].iterrows():
            choices.append(dict(site=site, fold=fold, property=r.property, option=r.option))
        print(f"  fold {fold}: localised {time.time() - t:.0f} s", flush=True)
        preds["plsr_tuned_common"] = plsr_tuned(args.seed, max_comp).fit(
            common.X[train], common.Y[train]).predict(common.X[test])
        preds["plsr_tuned_full"] = plsr_tuned(args.seed, max_comp).fit(
            full.X[train], full.Y[train]).predict(full.X[test])
        preds["gpr_full"] = Pipeline([("sg", sg()), ("gpr", PCAGaussianProcessRegressor(
            random_state=args.seed))]).fit(full.X[train], full.Y[train]).predict(full.X[test])
        preds["source"] = source.predict(common.X[test])
        X_all = pd.concat([glob.X, common.X[train]])
        Y_all = pd.concat([glob.Y, common.Y[train]])
        is_local = np.r_[np.zeros(len(glob.X), bool), np.ones(int(train.sum()), bool)]
        mbl = Pipeline([("sg", sg()), ("mbl", MemoryBasedRegressor(
            n_neighbors=50 if args.quick else 100,
            pls_components=(3, 10) if args.quick else (3, 15), spike=True))])
        preds["mbl"] = mbl.fit(X_all, Y_all, mbl__is_local=is_local).predict(common.X[test])
        plain = Pipeline([
            ("resample", WavelengthResampler(target=grid)), ("sg", sg()),
            ("cnn", SpectralCNNRegressor(warm_start_from=pooled, freeze_layers="features",
                                         validation_fraction=0.1, batch_size=32,
                                         random_state=args.seed, **size)),
        ]).set_output(transform="pandas")
        preds["plain_recipe"] = plain.fit(common.X[train], common.Y[train]).predict(
            common.X[test])
        for m, P in preds.items():
            oof[m][test] = np.asarray(P, dtype=float).reshape(len(Yte), -1)
            for j, prop in enumerate(names):
                rows.append(dict(site=site, fold=fold, property=prop, model=m,
                                 rmse=rmse(Yte[:, [j]], np.asarray(P).reshape(len(Yte), -1)
                                           [:, [j]])[0], n_test=int(test.sum())))
        print(f"  fold {fold}: all models {time.time() - t:.0f} s", flush=True)
    Y = full.Y.to_numpy(dtype=float)
    for j, prop in enumerate(names):
        ok = ~np.isnan(Y[:, j]) & ~np.isnan(oof["localised"][:, j])
        sst = ((Y[ok, j] - Y[ok, j].mean()) ** 2).sum()
        for m in MODELS:
            sse = ((oof[m][ok, j] - Y[ok, j]) ** 2).sum()
            pooled_rows.append(dict(site=site, property=prop, model=m,
                                    rmse=np.sqrt(sse / max(ok.sum(), 1)),
                                    r2=1 - sse / sst if sst > 0 else np.nan, n=int(ok.sum())))
        inside = (Y[ok, j] >= lower[ok, j]) & (Y[ok, j] <= upper[ok, j])
        pooled_rows.append(dict(site=site, property=prop, model="interval_90",
                                coverage=float(inside.mean()) if ok.any() else np.nan,
                                n=int(ok.sum())))


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


def report(rows, choices, args, wall, pooled_rows=()):
    df = pd.DataFrame(rows)
    cell = df.groupby(["site", "property", "model"])["rmse"].mean().unstack("model")
    cell = cell[[m for m in MODELS if m in cell.columns]]
    ratio = cell.div(cell[REFERENCE], axis=0)
    pct = 100 * (np.exp(np.log(ratio).groupby(level="property").mean()) - 1)
    pct.loc["all"] = 100 * (np.exp(np.log(ratio).mean()) - 1)
    lines = [f"# LocalisedRegressor on LimeSoDa {args.kind}", "",
             "    python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "",
             f"Wall time {wall:.0f} s; folds {args.folds}; sites {sorted(df.site.unique())}.",
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
    p.add_argument("--combine", nargs="+", metavar="DIR", default=None,
                   help="write the report of earlier runs (their CSV files in these folders, "
                        "e.g. sites run in parallel) instead of running")
    args = p.parse_args(argv)
    if args.combine:
        read = {k: pd.concat([pd.read_csv(Path(d) / f"localised_limesoda_{args.kind}_{k}.csv")
                              for d in args.combine], ignore_index=True)
                for k in ("folds", "choices", "pooled")}
        report(read["folds"].to_dict("records"), read["choices"].to_dict("records"), args,
               float("nan"), read["pooled"].to_dict("records"))
        return
    torch.set_num_threads(1)
    sites = args.sites or list(load_limesoda_spectra(args.kind).domains)
    folds = list(range(1, 11)) if args.folds == "all" else [int(f) for f in
                                                               args.folds.split(",")]
    rows, choices, pooled_rows, t0 = [], [], [], time.time()
    for site in sites:
        run_site(args.kind, site, folds, args, rows, choices, pooled_rows)
    report(rows, choices, args, time.time() - t0, pooled_rows)


if __name__ == "__main__":
    main()
