"""
==========================================================
Local, global and spiked PLSR on one LimeSoDa site
==========================================================

The site SC.93 is the local data; the other seven LimeSoDa vis-NIR sites
are the global library. With LimeSoDa's own ten folds as test sets, three
PLSR models (Savitzky-Golay first derivative, components by inner CV)
predict organic carbon of the same local test samples:

* local: trained on the site's other folds only;
* global: trained on the other sites only;
* spiked: the global library plus the site's training folds, weighted x5.
"""

# %%
# The experiment
# --------------
# :class:`~sklearn_soilspec.experiments.LocalisationExperiment` trains every
# model once per fold of the target site and pools the test predictions.
# ``default_models(fast=True)`` are the package's PLSR baselines with small
# search ranges.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.experiments import LocalisationExperiment, default_models

site, target = "SC.93", "OC"
MODELS = ["plsr_local", "plsr_global", "plsr_spiked"]

lib = load_limesoda_spectra().select_targets([target])
experiment = LocalisationExperiment(
    models=default_models(fast=True, names=MODELS),
    target_domains=[site],
    split="folds",
    verbose=0,
)
result = experiment.run(lib)

# %%
# Pooled test scores
# ------------------
# One row per model: RMSE and bias in % OC, R² and RPIQ without unit.
pooled = result.scores_pooled.set_index("model")
print(pooled[["rmse", "r2", "rpiq", "bias"]].round(3).to_string())

# %%
# Observed against predicted
# --------------------------
# The same local test samples in each panel; the line is 1:1.
preds = result.predictions
lims = [preds["observed"].min(), preds["observed"].max()]
fig, axes = plt.subplots(1, len(MODELS), sharex=True, sharey=True, figsize=(9, 3.3),
                         layout="constrained")
for ax, model in zip(axes, MODELS):
    block = preds[preds["model"] == model]
    ax.scatter(block["observed"], block["predicted"], s=12, alpha=0.7, color="C0")
    ax.plot(lims, lims, color="0.3", lw=0.8)
    row = pooled.loc[model]
    ax.set_title(f"{model}\nRMSE {row['rmse']:.2f} %, R² {row['r2']:.2f}", fontsize="medium")
    ax.set_xlabel(f"observed {target} (%)")
axes[0].set_ylabel(f"predicted {target} (%)")
n_site = int(np.sum(lib.groups == site))
fig.suptitle(f"{site}: LimeSoDa's 10 folds as test sets, {n_site} samples", fontsize="medium")
plt.show()
