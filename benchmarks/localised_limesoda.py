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


def run_site(kind, site, folds, args, rows, choices):
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
            for j, prop in enumerate(names):
                rows.append(dict(site=site, fold=fold, property=prop, model=m,
                                 rmse=rmse(Yte[:, [j]], np.asarray(P).reshape(len(Yte), -1)
                                           [:, [j]])[0], n_test=int(test.sum())))
        print(f"  fold {fold}: all models {time.time() - t:.0f} s", flush=True)


def report(rows, choices, args, wall):
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
    lines += ["", "## What the localised model chose", "", "| site | fold | property | option |",
              "|---|---:|---|---|"]
    lines += [f"| {c['site']} | {c['fold']} | {c['property']} | {c['option']} |"
              for c in choices]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"localised_limesoda_{args.kind}.md").write_text("\n".join(lines) + "\n")
    df.to_csv(out / f"localised_limesoda_{args.kind}_folds.csv", index=False)
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
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    sites = args.sites or list(load_limesoda_spectra(args.kind).domains)
    folds = list(range(1, 11)) if args.folds == "all" else [int(f) for f in
                                                               args.folds.split(",")]
    rows, choices, t0 = [], [], time.time()
    for site in sites:
        run_site(args.kind, site, folds, args, rows, choices)
    report(rows, choices, args, time.time() - t0)


if __name__ == "__main__":
    main()
