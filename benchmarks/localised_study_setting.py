"""LocalisedRegressor in the study's own setting: one protocol, the local domain inside the library.

Padarian, Minasny & McBratney (2019) train the global model on every
domain's training rows; the local model gets one domain's training rows and
is tested on that domain's held-out rows ("L inside G"). Two cases:

``synthetic``
    :func:`sklearn_soilspec.datasets.make_spectra` with 20 domains of one
    instrument, 60 spectra each, every domain split into three folds (about
    40 local training rows, 20 test rows); a few domains are in turn the
    local one.
``nrw``
    The three NRW MIR sites of LimeSoDa (NRW.115, NRW.62, NRW.42): for each
    of LimeSoDa's own 10 folds, one global library of the three sites'
    training folds; each site's test fold is tested, its training folds are
    the local rows.
``visnir``
    The same with the eight LimeSoDa vis-NIR sites (on their common range).

For every test fold one global network is trained with
``train_source_model`` on the global rows (the package's recommended
source), and on each local domain's held-out rows are compared:

``source``
    the global network as it is;
``plain_transfer``
    the study's transfer (the experiment runner's ``cnn_transfer``): the
    source fine-tuned with its convolutions frozen, ``lr=1e-3``, at most 200
    epochs, early stopping on 10 % of the local rows after 30 flat epochs;
``fine_tuned``
    the fine-tuned member of ``LocalisedRegressor`` fitted on the local
    training rows (its epochs chosen by its own inner cross-fit);
``localised``
    ``LocalisedRegressor(source, library=global rows)``;
``plsr_tuned``
    local PLSR, SG derivative or SNV chosen per property by inner CV;
``mbl``
    memory-based learning on the global rows spiked with the local ones.

Writes ``<out>/study_setting_<case>.md`` (mean RMSE per cell, the counts
against the targets, the command and the wall time) and
``<out>/study_setting_<case>.csv`` (RMSE per fold, domain, property, model).
Nothing is chosen on the test folds.

    python benchmarks/localised_study_setting.py --case synthetic --quick
    python benchmarks/localised_study_setting.py --case nrw --folds 1,2,3
    python benchmarks/localised_study_setting.py --case cost
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

from sklearn_soilspec.baselines import MemoryBasedRegressor  # noqa: E402
from sklearn_soilspec.datasets import load_limesoda_spectra, make_spectra  # noqa: E402
from sklearn_soilspec.localised import LocalisedRegressor, train_source_model  # noqa: E402
from sklearn_soilspec.localised._members import FineTunedMember, TransferView  # noqa: E402
from sklearn_soilspec.localised._recipes import fine_tune_params  # noqa: E402
from sklearn_soilspec.neural import SpectralCNNRegressor  # noqa: E402

# The same local PLSR (SG derivative or SNV chosen by inner CV) as the LimeSoDa
# localised benchmark beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from localised_limesoda import (  # noqa: E402,F401
    plsr_tuned,
    record_candidates,
    save_candidates,
    sg,
    wall_phrase,
)

MODELS = ("source", "plain_transfer", "fine_tuned", "localised", "plsr_tuned", "mbl")
NRW_SITES = ("NRW.115", "NRW.62", "NRW.42")


def rmse(Y, P):
    Y, P = np.asarray(Y, dtype=float), np.asarray(P, dtype=float).reshape(Y.shape)
    ok = ~np.isnan(Y)
    return np.sqrt(np.where(ok, (P - Y) ** 2, 0.0).sum(0) / np.maximum(ok.sum(0), 1))


def synthetic_case(args):
    """(library, fold of every row, local domains, test folds) of the synthetic case."""
    lib = make_spectra(20 * 60, n_domains=20, wavelengths=range(400, 2500, 10),
                       random_state=args.seed).as_frame()
    rng = np.random.default_rng(args.seed)
    groups = np.asarray(lib.groups)
    fold = np.zeros(len(groups), int)
    for d in np.unique(groups):
        idx = np.flatnonzero(groups == d)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % 3 + 1
    n_local = 2 if args.quick else args.n_local
    local = [f"domain_{i}" for i in range(n_local)]
    folds = [1] if args.quick else [1, 2, 3]
    return lib, fold, local, args.folds or folds


def nrw_case(args):
    lib = load_limesoda_spectra("mir", sites=list(NRW_SITES))
    folds = [1] if args.quick else list(range(1, 11))
    return lib, np.asarray(lib.folds), list(NRW_SITES), args.folds or folds


def visnir_case(args):
    """The eight LimeSoDa vis-NIR sites as one library, each site's training folds inside it."""
    lib = load_limesoda_spectra("visnir")
    folds = [1] if args.quick else list(range(1, 11))
    return lib, np.asarray(lib.folds), list(lib.domains), args.folds or folds


def plain_transfer(source, seed):
    cnn = source[-1]
    net = SpectralCNNRegressor(
        architecture=cnn.architecture, module_params=cnn.module_params, batch_size=32,
        warm_start_from=cnn, freeze_layers="features", lr=1e-3, max_epochs=200, patience=30,
        validation_fraction=0.1, random_state=seed)
    return net


def run_fold(lib, fold_of, local_domains, fold, args, rows, log, save):
    groups = np.asarray(lib.groups)
    names = list(lib.Y.columns)
    glob_rows = np.flatnonzero(fold_of != fold)
    glob = lib.subset(glob_rows)
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = train_source_model(glob, fast=args.quick, random_state=args.seed)
    log(f"fold {fold}: source trained on {len(glob_rows)} rows in {time.time() - t0:.0f} s")
    wl = np.asarray(lib.wavelengths, dtype=float)
    view = TransferView(source, wl)
    max_comp = 10 if args.quick else 20
    for dom in local_domains:
        tr = (groups == dom) & (fold_of != fold)
        te = (groups == dom) & (fold_of == fold)
        if not te.any():
            continue
        Xtr, Ytr, Xte = lib.X[tr], lib.Y[tr], lib.X[te]
        Yte = lib.Y[te].to_numpy(dtype=float)
        preds, secs = {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.time()
            preds["source"] = source.predict(Xte)
            secs["source"] = time.time() - t
            t = time.time()
            plain = plain_transfer(source, args.seed).fit(view.features(Xtr.to_numpy(float)), Ytr)
            preds["plain_transfer"] = plain.predict(view.features(Xte.to_numpy(float)))
            secs["plain_transfer"] = time.time() - t
            t = time.time()
            params = fine_tune_params(source[-1], int(tr.sum()), None)
            member = FineTunedMember(view, {j: j for j in range(len(names))}, None, params,
                                     1, args.seed).fit(Xtr.to_numpy(float), Ytr.to_numpy(float))
            preds["fine_tuned"] = member.predict(Xte.to_numpy(float))
            secs["fine_tuned"] = time.time() - t
            t = time.time()
            model = LocalisedRegressor(source, library=glob, random_state=args.seed)
            with record_candidates() as seen:
                model.fit(Xtr, Ytr)
            if args.candidates:
                save_candidates(Path(args.out) / "candidates" / f"{dom}_fold{fold}.npz",
                                model, seen, Xtr, Ytr, Xte, lib.Y[te])
            preds["localised"] = model.predict(Xte)
            lower, upper = model.predict_interval(Xte)
            inside = ((Yte >= lower) & (Yte <= upper)).sum(axis=0)
            secs["localised"] = time.time() - t
            t = time.time()
            preds["plsr_tuned"] = plsr_tuned(args.seed, max_comp).fit(Xtr, Ytr).predict(Xte)
            secs["plsr_tuned"] = time.time() - t
            t = time.time()
            others = glob_rows[groups[glob_rows] != dom]
            X_all = pd.concat([lib.X.iloc[others], Xtr])
            Y_all = pd.concat([lib.Y.iloc[others], Ytr])
            is_local = np.r_[np.zeros(len(others), bool), np.ones(int(tr.sum()), bool)]
            mbl = Pipeline([("sg", sg()), ("mbl", MemoryBasedRegressor(
                n_neighbors=50 if args.quick else 100,
                pls_components=(3, 10) if args.quick else (3, 15), spike=True))])
            preds["mbl"] = mbl.fit(X_all, Y_all, mbl__is_local=is_local).predict(Xte)
            secs["mbl"] = time.time() - t
        rep = model.localisation_report_
        chosen = dict(zip(rep[rep.candidate == "localised"].property,
                          rep[rep.candidate == "localised"].option))
        for m, P in preds.items():
            r = rmse(Yte, P)
            for j, prop in enumerate(names):
                rows.append(dict(fold=fold, domain=dom, property=prop, model=m, rmse=r[j],
                                 n_train=int(tr.sum()), n_test=int(te.sum()),
                                 seconds=secs[m],
                                 inside=int(inside[j]) if m == "localised" else np.nan,
                                 measured=int((~np.isnan(Yte[:, j])).sum()),
                                 detail=(str(member.choice_[j]) if m == "fine_tuned" else
                                         chosen.get(prop, "") if m == "localised" else "")))
        log(f"  {dom}: n_train {int(tr.sum())}, "
            + ", ".join(f"{m} {secs[m]:.0f} s" for m in MODELS)
            + f"; fine-tuned epochs {member.choice_}")
        save()


def counts(cell):
    """Lines of the counts against the targets, from the mean RMSE per cell."""
    best_gp = cell[["source", "plain_transfer"]].min(axis=1)
    n = len(cell)
    loc = cell["localised"]
    global_best = cell["source"] <= cell["plain_transfer"]
    lines = [
        f"Cells (domain x property): {n}.", "",
        "| target | met in | share |", "|---|---:|---:|"]

    def line(text, ok, total):
        lines.append(f"| {text} | {int(ok.sum())} of {total} | "
                     f"{100 * ok.sum() / max(total, 1):.0f} % |")

    line("localised <= min(source, plain_transfer)", loc <= best_gp, n)
    line("localised <= 1.01 x min(source, plain_transfer)", loc <= 1.01 * best_gp, n)
    line("where the source is best of the two: localised <= 1.03 x source",
         loc[global_best] <= 1.03 * cell["source"][global_best], int(global_best.sum()))
    line("fine_tuned <= source", cell["fine_tuned"] <= cell["source"], n)
    line("fine_tuned <= 1.01 x source", cell["fine_tuned"] <= 1.01 * cell["source"], n)
    line("plain_transfer <= source (the study's recipe, for reference)",
         cell["plain_transfer"] <= cell["source"], n)
    line("localised <= plsr_tuned", loc <= cell["plsr_tuned"], n)
    line("localised <= mbl", loc <= cell["mbl"], n)
    return lines


def report(df, args, wall, case, folds):
    cell = df.groupby(["domain", "property", "model"])["rmse"].mean().unstack("model")
    cell = cell[[m for m in MODELS if m in cell.columns]]
    ratio = cell.div(cell["source"], axis=0)
    geo = 100 * (np.exp(np.log(ratio).mean()) - 1)
    lines = [f"# LocalisedRegressor in the study's setting: {case}", "",
             "    python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "",
             f"{wall_phrase(wall)}; test folds {folds}"
             + (f"; load average at the end {os.getloadavg()[0]:.1f} (timings shared the 2 cores "
                "with other jobs)." if np.isfinite(wall) else "."), "",
             "## Mean RMSE over the test folds", "",
             "| domain | property | " + " | ".join(cell.columns) + " |",
             "|---|---|" + "---:|" * len(cell.columns)]
    for (dom, prop), r in cell.iterrows():
        lines.append(f"| {dom} | {prop} | " + " | ".join(f"{v:.3f}" for v in r) + " |")
    lines += ["", "## % change of RMSE (geometric mean of cells)",
              "", "| against | " + " | ".join(cell.columns) + " |",
              "|---|" + "---:|" * len(cell.columns),
              "| the source as it is | " + " | ".join(f"{v:+.1f}" for v in geo) + " |"]
    if "plsr_tuned" in cell:
        # The local model a user has anyway: what each candidate adds to it.
        geo_pls = 100 * (np.exp(np.log(cell.div(cell["plsr_tuned"], axis=0)).mean()) - 1)
        lines.append("| plsr_tuned | " + " | ".join(f"{v:+.1f}" for v in geo_pls) + " |")
    lines += ["", "## Targets", ""]
    lines += counts(cell)
    ft = df[df.model == "fine_tuned"]
    lines += ["", "## What the fine-tuned member chose (per fold, domain and property)", "",
              ft["detail"].value_counts().rename_axis("choice").to_frame("cells").to_markdown()]
    loc = df[df.model == "localised"]
    lines += ["", "## What the localised model chose", "",
              loc["detail"].value_counts().rename_axis("option").to_frame("cells")
              .to_markdown()]
    if "inside" in loc:
        cov = loc.groupby("property")[["inside", "measured"]].sum()
        lines += ["", "## Coverage of the localised model's 90 % intervals (pooled test rows)",
                  "", "| " + " | ".join(cov.index) + " |", "|" + "---:|" * len(cov),
                  "| " + " | ".join(f"{100 * r.inside / r.measured:.1f} %"
                                    for _, r in cov.iterrows()) + " |"]
    sec = df.drop_duplicates(["fold", "domain", "model"]).groupby("model")["seconds"].mean()
    lines += ["", "## Mean fit + predict seconds per local domain and fold", "",
              "| " + " | ".join(sec.index) + " |", "|" + "---:|" * len(sec),
              "| " + " | ".join(f"{v:.0f}" for v in sec) + " |"]
    return "\n".join(lines) + "\n"


def cost(args):
    """Process CPU seconds of LocalisedRegressor fits on 100 and 414 local rows."""
    import resource

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    wl = np.arange(435, 1701, 5)
    lib = make_spectra(1000, n_domains=5, wavelengths=wl, random_state=args.seed).as_frame()
    # Five epochs: what a fit costs does not depend on how well the source learnt.
    source = train_source_model(lib, random_state=args.seed, max_epochs=5)
    lines = ["| fit | CPU s | wall s |", "|---|---:|---:|"]
    for n, members in ((100, "auto"), (100, ["fine_tuned"]), (414, ["fine_tuned"])):
        loc = make_spectra(n, n_domains=1, wavelengths=wl, random_state=n).as_frame()
        t, c = time.time(), cpu()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            LocalisedRegressor(source, library=lib if members == "auto" else None,
                               members=members, random_state=args.seed).fit(loc.X, loc.Y)
        lines.append(f"| {n} rows, members={members} | {cpu() - c:.0f} | "
                     f"{time.time() - t:.0f} |")
    lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", choices=["synthetic", "nrw", "visnir", "cost"], default="synthetic")
    p.add_argument("--quick", action="store_true", help="one fold, small networks")
    p.add_argument("--folds", type=lambda s: [int(x) for x in s.split(",")], default=None)
    p.add_argument("--n-local", type=int, default=5,
                   help="synthetic: how many domains are in turn the local one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/localised_study")
    p.add_argument("--candidates", action="store_true",
                   help="also write every candidate's out-of-fold and test predictions of the "
                        "localised model to <out>/candidates/ (for combination_rules.py)")
    p.add_argument("--combine", nargs="+", metavar="DIR", default=None,
                   help="write the report of earlier runs of this case (folds run in "
                        "parallel, each with its own --out) into --out instead of running")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.case == "cost":
        text = cost(args)
        (out / "study_setting_cost.md").write_text(text)
        print(text)
        return
    if args.combine:
        df = pd.concat([pd.read_csv(Path(d) / f"study_setting_{args.case}.csv")
                        for d in args.combine], ignore_index=True)
        text = report(df, args, float("nan"), args.case, sorted(df.fold.unique().tolist()))
        (out / f"study_setting_{args.case}.md").write_text(text)
        df.to_csv(out / f"study_setting_{args.case}.csv", index=False)
        print(text)
        return
    lib, fold_of, local, folds = {"synthetic": synthetic_case, "nrw": nrw_case,
                                  "visnir": visnir_case}[args.case](args)
    t0 = time.time()
    rows = []

    def log(msg):
        print(msg, flush=True)

    def save():
        # After every local domain, so that an interrupted run keeps what it did.
        df = pd.DataFrame(rows)
        df.to_csv(out / f"study_setting_{args.case}.csv", index=False)
        (out / f"study_setting_{args.case}.md").write_text(
            report(df, args, time.time() - t0, args.case, sorted(df.fold.unique().tolist())))

    for fold in folds:
        run_fold(lib, fold_of, local, fold, args, rows, log, save)
    print((out / f"study_setting_{args.case}.md").read_text())


if __name__ == "__main__":
    main()
