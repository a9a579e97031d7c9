"""Accuracy of localisation recipes on LimeSoDa: leave-one-site-out, the sets' own folds.

Every LimeSoDa site of one kind (vis-NIR or MIR) is in turn the local data
set; the other sites are the global library. The site's LimeSoDa folds are
the outer test folds (``LocalisationExperiment(split="folds")``); the rest of
the site is the local training set. Models: local PLSR (SG derivative, and
tuned: SG derivative or SNV by inner CV), global PLSR, spiked PLSR, MBL,
local / global CNN, transfer with the study's plain recipe, transfer from a
per-site standardised global model, its seed ensemble, and the blend
0.5 transfer CNN + 0.5 tuned local PLSR. Then a local-data-size curve (10,
20, 40, 80 local training samples) and the negative-transfer guard.

Writes ``benchmarks/results/accuracy_limesoda_<kind>.md`` (tables, the
command, wall time) and CSV files beside it.

    python benchmarks/accuracy_limesoda.py                      # the full run
    python benchmarks/accuracy_limesoda.py --quick              # smoke run (minutes)
    python benchmarks/accuracy_limesoda.py --folds odd --sites SSP.460 CV.98 SC.93
    python benchmarks/accuracy_limesoda.py --kind mir
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")

import sklearn  # noqa: E402
import torch  # noqa: E402

from sklearn_soilspec.datasets import load_limesoda_spectra  # noqa: E402
from sklearn_soilspec.experiments import LocalisationExperiment  # noqa: E402
from sklearn_soilspec.experiments import default_models, paired_rmse_test  # noqa: E402

REFERENCE = "plsr_tuned"  # the local PLSR every recipe must beat
# Falls back to local PLSR per property; its cross-fitted CNN member predicts
# with the very fine-tuning runs its weights were validated on.
GUARD = "blend_crossfit_plsr_cv"
# Every blend, for the worst-pair table of the guard section.
BLENDS = (GUARD, "blend_ensemble_gpr_d1d2_plsr", "blend_ensemble_gpr_plsr",
          "blend_crossfit_gpr_plsr_cv", "blend_transfer_plsr_cv", "blend_ensemble_plsr",
          "blend_transfer_plsr")
TRANSFER_ONLY = ("cnn_transfer", "cnn_transfer_domain", "cnn_transfer_ensemble")
CURVE_MODELS = ("plsr_local", "plsr_tuned", "cnn_local", "cnn_global", "cnn_global_domain",
                "cnn_transfer", "cnn_transfer_domain", "cnn_transfer_ensemble",
                "blend_transfer_plsr", "blend_ensemble_plsr", "blend_transfer_plsr_cv",
                "gpr_local", "gpr_local_d2", "blend_ensemble_gpr_plsr",
                "blend_ensemble_gpr_d1d2_plsr", "blend_crossfit_gpr_plsr_cv", GUARD)


# -- data and models ----------------------------------------------------------------
def load(kind, sites):
    lib = load_limesoda_spectra(kind=kind)
    if sites:
        unknown = sorted(set(sites) - set(lib.domains))
        if unknown:
            raise SystemExit(f"Unknown sites {unknown}; {kind} has {list(lib.domains)}.")
    return lib


def select_folds(lib, folds):
    """Library whose fold ids outside ``folds`` are NaN: those rows only train."""
    if folds is None:
        return lib
    f = np.asarray(lib.folds, dtype=float)
    lib.folds = np.where(np.isin(f, folds), f, np.nan)
    return lib


def models(args, names):
    # Sources come along with the transfer models that need them.
    m = default_models(fast=not args.full, random_state=args.seed, recipes=True,
                       n_ensemble=args.n_ensemble, max_epochs=args.epochs, names=names)
    if "plsr_global" in m:
        # The site labels reach every global model that requests them (the
        # per-site standardised CNN needs them); the global PLSR declines
        # them, keeping the shuffled inner CV these results were measured
        # with rather than folds by site.
        with sklearn.config_context(enable_metadata_routing=True):
            m["plsr_global"].estimator.named_steps["pls"].set_fit_request(groups=False)
    return m


# -- tables -------------------------------------------------------------------------------
def cell_table(res):
    """RMSE, R2, RPIQ per site x property x model, rank, and % vs the reference."""
    t = res.scores_pooled[["domain", "target", "model", "training", "n", "rmse", "r2", "rpiq",
                           "rank"]].copy()
    ref = t[t["model"] == REFERENCE].set_index(["domain", "target"])["rmse"]
    t["pct_vs_" + REFERENCE] = 100 * (t["rmse"] / t.set_index(["domain", "target"]).index.map(
        ref).to_numpy() - 1)
    return t


def second_best(res, candidates):
    """Per cell and candidate: the best other model and the % change against it, paired test."""
    rows = []
    pred = {k: b for k, b in res.predictions.groupby(["domain", "target", "model"])}
    for (d, t), block in res.scores_pooled.groupby(["domain", "target"]):
        for cand in candidates:
            if cand not in set(block["model"]):
                continue
            others = block[(block["model"] != cand) & ~block["model"].isin(candidates)
                           ].sort_values("rmse")
            if others.empty:
                continue
            other = others.iloc[0]
            mine = block[block["model"] == cand].iloc[0]
            a, b = pred[(d, t, cand)], pred[(d, t, other["model"])]
            pair = a.merge(b[["repeat", "sample_id", "predicted"]], on=["repeat", "sample_id"],
                           suffixes=("_a", "_b"))
            test = paired_rmse_test(pair["observed"], pair["predicted_a"], pair["predicted_b"],
                                    sample_ids=pair["sample_id"], random_state=0)
            rows.append({"domain": d, "target": t, "model": cand, "rmse": mine["rmse"],
                         "best_other": other["model"], "best_other_rmse": other["rmse"],
                         "pct_change": 100 * (mine["rmse"] / other["rmse"] - 1),
                         "p_value": test["p_value"]})
    return pd.DataFrame(rows)


def relative_summary(cells, baselines):
    """Per property and model: mean of RMSE / SD-normalised RMSE and % vs baselines.

    Sites differ in units and spread, so RMSEs are averaged after dividing by
    each site's reference RMSE (geometric mean of the ratios).
    """
    out = []
    for base in baselines:
        ref = cells[cells["model"] == base].set_index(["domain", "target"])["rmse"]
        c = cells.copy()
        c["ratio"] = c["rmse"] / c.set_index(["domain", "target"]).index.map(ref).to_numpy()
        g = c.groupby(["target", "model"])["ratio"].apply(
            lambda r: 100 * (np.exp(np.mean(np.log(r))) - 1)).rename(f"pct_vs_{base}")
        out.append(g)
        allp = c.groupby("model")["ratio"].apply(
            lambda r: 100 * (np.exp(np.mean(np.log(r))) - 1))
        allp.index = pd.MultiIndex.from_product([["ALL"], allp.index], names=["target", "model"])
        out[-1] = pd.concat([g, allp.rename(f"pct_vs_{base}")])
    return pd.concat(out, axis=1).reset_index()


def wins(cells):
    best = cells.loc[cells.groupby(["domain", "target"])["rmse"].idxmin()]
    return best["model"].value_counts().rename("cells_won").reset_index()


def worst_pairs(cells, names):
    """Per model: its worst site x property pair vs the reference, and how many exceed +5 %."""
    rows = []
    col = "pct_vs_" + REFERENCE
    for name in names:
        mine = cells[cells["model"] == name].sort_values(col)
        if mine.empty:
            continue
        w = mine.iloc[-1]
        rows.append({"model": name, "worst_pair": f"{w['domain']} {w['target']}",
                     f"worst_{col}": round(float(w[col]), 1),
                     "pairs_above_5pct": f"{int((mine[col] > 5).sum())} of {len(mine)}"})
    return pd.DataFrame(rows)


# -- size curve ------------------------------------------------------------------------
def size_curve(exp, lib, args, sizes, sites, folds):
    """Predictions of every (site, fold, size) run, each a run of its own.

    ``exp`` caches its global fits (``cache_global=True``): every run of a
    site has the same global library, so each global model is trained once
    per site (and the main experiment's fits are reused).
    """
    rng = np.random.default_rng(args.seed)
    specs = models(args, [n for n in CURVE_MODELS if n in args.models])
    exp.set_params(models=specs, split="folds", min_domain_size=2, verbose=0)
    rows = []
    groups = np.asarray(lib.groups)
    f_all = np.asarray(lib.folds, dtype=float)
    for site in sites:
        site_rows = np.flatnonzero(groups == site)
        for fold in folds:
            test = site_rows[f_all[site_rows] == fold]
            pool = np.setdiff1d(site_rows, test)
            for n in sizes:
                if n >= len(pool):
                    continue
                train = rng.choice(pool, n, replace=False)
                keep = np.sort(np.r_[np.flatnonzero(groups != site), test, train])
                sub = lib.subset(keep)
                # One held-out fold: the test rows; the n training rows and
                # the global library have no fold id, so they only train.
                sub.folds = np.where(np.isin(sub.sample_ids, lib.sample_ids[test]), 1.0, np.nan)
                p = exp.set_params(target_domains=[site]).run(sub).predictions
                p["size"], p["fold"] = n, fold
                rows.append(p)
    preds = pd.concat(rows, ignore_index=True)
    return preds


def curve_table(preds):
    """% RMSE change against the reference per size and model (pooled per site x property)."""
    preds = preds.dropna(subset=["observed", "predicted"])
    err = preds.assign(se=(preds["observed"] - preds["predicted"]) ** 2)
    rmse = err.groupby(["size", "domain", "target", "model"])["se"].mean() ** 0.5
    rmse = rmse.rename("rmse").reset_index()
    ref = rmse[rmse["model"] == REFERENCE].set_index(["size", "domain", "target"])["rmse"]
    rmse["ratio"] = rmse["rmse"] / rmse.set_index(["size", "domain", "target"]).index.map(
        ref).to_numpy()
    g = rmse.groupby(["size", "model"])["ratio"].apply(
        lambda r: 100 * (np.exp(np.mean(np.log(r))) - 1))
    return g.rename(f"pct_vs_{REFERENCE}").unstack("size").round(1)


# -- main -------------------------------------------------------------------------------
def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=("visnir", "mir"), default="visnir")
    p.add_argument("--sites", nargs="*", default=None, help="target sites (default: all)")
    p.add_argument("--folds", default="all", help="all, odd, even or a list like 1,3,5")
    p.add_argument("--models", nargs="*", default=None, help="subset of the model names")
    p.add_argument("--sizes", default="10,20,40,80", help="local sizes of the curve ('' = none)")
    p.add_argument("--curve-folds", default="1,3,5", help="test folds of the size curve")
    p.add_argument("--n-ensemble", type=int, default=5)
    p.add_argument("--epochs", type=int, default=None, help="override the CNNs' max_epochs")
    p.add_argument("--full", action="store_true", help="study-size networks (slow)")
    p.add_argument("--no-guard", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 sites, 2 folds, 5 epochs, sizes 10,20, 2 seeds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = p.parse_args(argv)
    if args.quick:
        args.folds, args.epochs, args.sizes, args.n_ensemble = "1,2", 5, "10,20", 2
        args.curve_folds = "1"
        args.sites = args.sites or (["SC.93", "CV.98"] if args.kind == "visnir"
                                    else ["NRW.62", "NRW.42"])
    return args


def fold_ids(spec):
    if spec == "all":
        return None
    if spec == "odd":
        return [1, 3, 5, 7, 9]
    if spec == "even":
        return [2, 4, 6, 8, 10]
    return [int(f) for f in spec.split(",")]


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(1)
    all_names = list(default_models(recipes=True))
    args.models = args.models or all_names
    t0 = time.perf_counter()
    lib = load(args.kind, args.sites)
    sites = args.sites or list(lib.domains)
    folds = fold_ids(args.folds)
    if args.no_guard:
        args.models = [m for m in args.models
                       if m not in (GUARD, "blend_crossfit_gpr_plsr_cv", "blend_transfer_plsr_cv")]
    specs = models(args, args.models)
    exp = LocalisationExperiment(models=specs, target_domains=sites, split="folds", verbose=1,
                                 cache_global=True)
    res = exp.run(select_folds(load(args.kind, args.sites), folds))
    t_main = time.perf_counter() - t0

    cells = cell_table(res)
    candidates = [n for n in (*BLENDS, "cnn_transfer_ensemble",
                              "cnn_transfer_domain", "cnn_transfer") if n in specs]
    sb = second_best(res, candidates)
    summary = relative_summary(cells, [b for b in (REFERENCE, "plsr_local", "cnn_local")
                                       if b in specs])
    won = wins(cells)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"accuracy_limesoda_{args.kind}" + ("_quick" if args.quick else "")
    # Written before the size curve, so a long run leaves its main result early.
    cells.to_csv(out / f"{stem}_cells.csv", index=False)
    sb.to_csv(out / f"{stem}_vs_best_other.csv", index=False)
    res.predictions.to_csv(out / f"{stem}_predictions.csv.gz", index=False)
    print(summary.round(1).to_string(index=False), flush=True)

    sizes = [int(s) for s in args.sizes.split(",") if s]
    curve = None
    if sizes:
        preds = size_curve(exp, lib, args, sizes, sites,
                           [int(f) for f in args.curve_folds.split(",")])
        curve = curve_table(preds)
        curve.to_csv(out / f"{stem}_size_curve.csv")
    wall = time.perf_counter() - t0
    worst = worst_pairs(cells, [b for b in BLENDS if b in specs])
    command = "python benchmarks/accuracy_limesoda.py " + " ".join(sys.argv[1:] if argv is None
                                                                    else argv)
    lines = [
        f"## LimeSoDa {args.kind}: localisation accuracy",
        "",
        f"Command: `{command.strip()}`  ",
        f"Wall time: {wall:.0f} s (main experiment {t_main:.0f} s), torch threads 1.  ",
        f"Sites: {', '.join(map(str, sites))}; outer test folds: {args.folds}; "
        f"CNN epochs: {'default' if args.epochs is None else args.epochs}; "
        f"{'full' if args.full else 'fast'} network sizes.",
        "",
        "### Mean % RMSE change per property (geometric mean over sites of RMSE ratios; "
        "negative = better)",
        "",
        summary.round(1).to_markdown(index=False),
        "",
        "### Cells won (lowest RMSE per site x property)",
        "",
        won.to_markdown(index=False),
        "",
        "### Recipes vs the best other (non-recipe) model per cell, paired bootstrap p-value",
        "",
        sb.round(3).to_markdown(index=False),
        "",
    ]
    if not worst.empty:
        lines += [
            f"### Guard: {GUARD} (blend weights chosen per property by inner CV), and the "
            "other blends: worst site x property pair",
            "",
            worst.to_markdown(index=False),
            "",
        ]
    if curve is not None:
        lines += [f"### Local-data-size curve: % RMSE vs {REFERENCE} (test folds "
                  f"{args.curve_folds})", "", curve.to_markdown(), ""]
    lines += ["### Per site x property x model", "",
              cells.round(3).to_markdown(index=False), ""]
    (out / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines[:40]))
    print(f"Wrote {out / (stem + '.md')}")


if __name__ == "__main__":
    main()
