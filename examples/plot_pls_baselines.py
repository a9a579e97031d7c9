"""Local, global and spiked PLSR on one LimeSoDa site.

The site SC.93 is the local data; the other seven LimeSoDa vis-NIR sites
are the global library. With LimeSoDa's own ten folds as test sets, three
PLSR models (Savitzky-Golay first derivative, components by inner CV)
predict organic carbon of the same local test samples:

* local: trained on the site's other folds only;
* global: trained on the other sites only;
* spiked: the global library plus the site's training folds, weighted x5.

Writes ``plot_pls_baselines.png`` (default: into ``docs/_static``) and
prints the pooled test RMSE per model.

Run::

    python examples/plot_pls_baselines.py [--out FOLDER] [--site SC.93]
"""

import argparse
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.experiments import LocalisationExperiment, default_models

MODELS = ["plsr_local", "plsr_global", "plsr_spiked"]


def main(out, site="SC.93", target="OC"):
    lib = load_limesoda_spectra().select_targets([target])
    experiment = LocalisationExperiment(
        models=default_models(fast=True, names=MODELS),
        target_domains=[site],
        split="folds",
        verbose=0,
    )
    result = experiment.run(lib)
    pooled = result.scores_pooled.set_index("model")
    print(pooled[["rmse", "r2", "rpiq", "bias"]].round(3).to_string())

    preds = result.predictions
    lims = [preds["observed"].min(), preds["observed"].max()]
    fig = Figure(figsize=(9, 3.3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(MODELS), sharex=True, sharey=True)
    for ax, model in zip(axes, MODELS):
        block = preds[preds["model"] == model]
        ax.scatter(block["observed"], block["predicted"], s=12, alpha=0.7, color="C0")
        ax.plot(lims, lims, color="0.3", lw=0.8)
        row = pooled.loc[model]
        ax.set_title(f"{model}\nRMSE {row['rmse']:.2f} %, R² {row['r2']:.2f}", fontsize="medium")
        ax.set_xlabel(f"observed {target} (%)")
    axes[0].set_ylabel(f"predicted {target} (%)")
    fig.suptitle(f"{site}: LimeSoDa's 10 folds as test sets, {int(np.sum(lib.groups == site))} samples",
                 fontsize="medium")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "plot_pls_baselines.png"
    fig.savefig(path, dpi=80)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).resolve().parent.parent / "docs" / "_static")
    parser.add_argument("--site", default="SC.93")
    args = parser.parse_args()
    print(main(args.out, site=args.site))
