"""Choose an equal-weight blend on some test folds, report it on the others.

Reads the predictions that ``accuracy_limesoda.py`` writes (one or more
``*_predictions.csv.gz`` files of the same sites and folds), forms every
equal-weight average of 1 to ``--max-members`` of the named member models,
and scores each against the reference (tuned local PLSR) as the accuracy
benchmark does: RMSE per site x property pooled over the folds, then the
geometric mean over the cells of the RMSE ratios.

The blend with the lowest score on the selection folds (``--select odd``) is
reported on the held-out folds, so its held-out figure is free of the
selection; ``--show`` adds named blends (members joined by ``+``) to the
table wherever they rank.

    python benchmarks/blend_selection.py \\
        benchmarks/results/d1d2/accuracy_limesoda_visnir_predictions.csv.gz \\
        --members plsr_tuned plsr_local cnn_local gpr_local gpr_local_d2 cnn_transfer_ensemble
"""

import argparse
import itertools
import sys

import numpy as np
import pandas as pd

REFERENCE = "plsr_tuned"
TARGETS = ("OC", "pH", "clay")


def load(paths, members):
    frames = [pd.read_csv(p) for p in paths]
    preds = pd.concat(frames, ignore_index=True)
    preds = preds[preds["model"].isin(set(members) | {REFERENCE})]
    # The LimeSoDa folds are the repeats of split="folds": repeat r is fold r + 1.
    preds = preds.assign(fold=preds["repeat"] + 1)
    index = ["domain", "target", "fold", "sample_id"]
    dup = preds.duplicated(index + ["model"])
    if dup.any():
        # Models in several files must be the same run (fixed seeds): keep one.
        preds = preds[~dup]
    wide = preds.pivot_table(index=index, columns="model", values="predicted")
    observed = preds.groupby(index)["observed"].first().reindex(wide.index)
    keep = observed.notna() & wide.notna().all(axis=1)
    missing = sorted((set(members) | {REFERENCE}) - set(wide.columns))
    if missing:
        raise SystemExit(f"No predictions of {missing} in {list(paths)}.")
    return wide[keep], observed[keep]


def pct_scores(pred, ref, observed, mask):
    """% mean RMSE change vs the reference: all cells, per property, worst cell."""
    def rmse(p):
        return (((p - observed) ** 2)[mask].groupby(level=["domain", "target"]).mean()) ** 0.5
    log_ratio = np.log(rmse(pred) / rmse(ref))
    out = {"all": 100 * (np.exp(log_ratio.mean()) - 1),
           "worst": 100 * (np.exp(log_ratio.max()) - 1)}
    for t in TARGETS:
        part = log_ratio[log_ratio.index.get_level_values("target") == t]
        if len(part):
            out[t] = 100 * (np.exp(part.mean()) - 1)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("predictions", nargs="+", help="*_predictions.csv.gz of accuracy_limesoda.py")
    p.add_argument("--members", nargs="+", required=True, help="candidate member models")
    p.add_argument("--max-members", type=int, default=4)
    p.add_argument("--select", choices=("odd", "even"), default="odd",
                   help="folds the blend is chosen on; the others report it")
    p.add_argument("--show", nargs="*", default=(), help="blends to list, e.g. a+b+c")
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args(argv)

    wide, observed = load(args.predictions, args.members)
    fold = wide.index.get_level_values("fold").to_numpy()
    on = (fold % 2 == 1) if args.select == "odd" else (fold % 2 == 0)
    masks = {"select": on, "held_out": ~on, "all": np.ones(len(fold), bool)}
    ref = wide[REFERENCE]
    rows = []
    for k in range(1, args.max_members + 1):
        for combo in itertools.combinations(args.members, k):
            pred = wide[list(combo)].mean(axis=1)
            row = {"blend": "+".join(combo)}
            for name, mask in masks.items():
                for key, value in pct_scores(pred, ref, observed, mask).items():
                    row[f"{name}_{key}"] = value
            rows.append(row)
    table = pd.DataFrame(rows).sort_values("select_all").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    shown = table.head(args.top)
    wanted = {"+".join(sorted(b.split("+"), key=args.members.index)) for b in args.show}
    shown = pd.concat([shown, table[table["blend"].isin(wanted) & (table["rank"] > args.top)]])
    cols = ["rank", "blend", "select_all", "held_out_all", "held_out_OC", "held_out_pH",
            "held_out_clay", "held_out_worst", "all_all", "all_OC", "all_pH", "all_clay",
            "all_worst"]
    cols = [c for c in cols if c in shown.columns]
    best = table.iloc[0]
    command = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"Command: `python benchmarks/blend_selection.py {command}`\n")
    print(f"{len(table)} equal-weight blends of {args.members}; chosen on the {args.select} "
          f"folds: {best['blend']}, {best['select_all']:.1f} % there, "
          f"{best['held_out_all']:.1f} % on the held-out folds (vs {REFERENCE}).")
    print(shown[cols].round(1).to_markdown(index=False))


if __name__ == "__main__":
    sys.exit(main())
