"""
================================================================
From a folder of OPUS files and a lab table to a localised model
================================================================

The path a laboratory takes with its own data: a folder of Bruker OPUS scans
and a CSV table of lab results become a
:class:`~sklearn_soilspec.datasets.SpectralLibrary` with
:func:`~sklearn_soilspec.datasets.load_opus`; a global model, trained on a
library and shared as a file, is localised to a farm's few samples with
:class:`~sklearn_soilspec.localised.LocalisedRegressor`; its
``localisation_report_`` says which candidate it chose for each property, and
new scans of the farm get predictions with intervals.

.. note::

   The scans are real (the four OPUS files in the package's test data, from
   a Bruker Alpha, a VERTEX 70 and a TENSOR II), but there are only four of
   them, so every folder below holds copies of them under many sample names,
   and **the lab values are made up**. The point of this example is the path
   from files to a model and its report, not accuracy: nothing here says how
   well any model predicts real soils.
"""

# %%
# A folder of scans and a lab table
# ---------------------------------
# The example reads the committed scans from the repository's test data (it
# runs from anywhere inside a checkout: sphinx-gallery runs it from the
# ``examples/`` folder) and writes everything else into a temporary folder. One file per sample, named by its
# sample id, as most instrument software exports them; the lab table has one
# row per sample with the same ids.
import shutil
import tempfile
import textwrap
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklearn_soilspec.datasets import load_opus
from sklearn_soilspec.localised import (LocalisedRegressor, plot_localisation,
                                         train_source_model)
from sklearn_soilspec.transfer import load_model, save_model

def find_scans(where=Path("tests") / "data" / "instruments" / "opus"):
    """The folder of committed scans, from anywhere inside a checkout of the repository."""
    for base in (Path.cwd(), *Path.cwd().parents):
        if (base / where).is_dir():
            return base / where
    raise FileNotFoundError(f"{where} not found above {Path.cwd()}: run this example from a "
                            "checkout of the sklearn-soilspec repository.")


scans = sorted(find_scans().glob("*.[01]"))
print([scan.name for scan in scans])

work = Path(tempfile.mkdtemp(prefix="soilspec-example-"))
rng = np.random.default_rng(0)
# Made-up "true" values of each of the four soils, so that the spectra carry
# some signal; the measured values scatter around them.
OC_OF_SCAN, CLAY_OF_SCAN = [0.8, 1.6, 2.4, 3.1], [12.0, 25.0, 18.0, 35.0]


def make_folder(name, n_samples, region_of=None, oc_offset=0.0, with_lab=True):
    """Copy the scans under ``n_samples`` sample names; write a made-up lab table."""
    folder = work / name
    folder.mkdir()
    rows = []
    for i in range(n_samples):
        k = i % len(scans)
        sample_id = f"{name}-{i:03d}"
        shutil.copy(scans[k], folder / f"{sample_id}.0")
        rows.append({"sample_id": sample_id,
                     "region": region_of(i) if region_of else name,
                     "OC": round(OC_OF_SCAN[k] + oc_offset + rng.normal(0, 0.15), 2),
                     "clay": round(CLAY_OF_SCAN[k] + rng.normal(0, 2.0), 1)})
    if not with_lab:
        return folder, None
    lab = work / f"{name}_lab.csv"
    pd.DataFrame(rows).to_csv(lab, index=False)
    return folder, lab


# A library of 48 samples from two regions, and 12 samples of one farm whose
# organic carbon is (made up to be) 0.5 % higher than the library's.
library_folder, library_lab = make_folder(
    "library", 48, region_of=lambda i: "north" if i < 24 else "south")
farm_folder, farm_lab = make_folder("farm", 12, oc_offset=0.5)
print(pd.read_csv(farm_lab).head())

# %%
# Reading the files
# -----------------
# :func:`~sklearn_soilspec.datasets.load_opus` reads every scan, averages
# replicates, joins the lab table by sample id and notes every conversion in
# ``conversions``. The three instruments record on different wavenumber
# grids, so all files are put on one axis inside every file's range, and the
# reflectance-only TENSOR II file is converted to absorbance. With real data
# each instrument's files would be loaded on their own: ``load_opus`` warns
# that the files come from three instruments, and it is right to; here the
# warning is silenced, as the mix is forced by the few files at hand, and
# its text is the last of the notes printed below.
AXIS = np.arange(3990.0, 600.0, -2.0)  # cm-1, descending as the files store it


def read_scans(folder, lab=None):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The files come from")
        return load_opus(folder, lab=lab, group_column="region" if lab else None,
                         axis=AXIS, measurement="absorbance")


def show(text):
    print(textwrap.fill(str(text), 88, subsequent_indent="    "))


library = read_scans(library_folder, library_lab)
farm = read_scans(farm_folder, farm_lab)
show(library)
show(farm)
for note in farm.conversions:
    show(note)

# %%
# The scans as read
# -----------------
fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
for k in range(len(scans)):
    ax.plot(farm.wavelengths, farm.X.iloc[k], lw=1,
            label=f"{farm.X.index[k]} (a copy of {scans[k].name})")
ax.set_xlim(AXIS[0], AXIS[-1])  # wavenumbers fall from left to right, as usual in MIR
ax.set_xlabel("wavenumber (cm$^{-1}$)")
ax.set_ylabel("absorbance")
ax.legend(fontsize="small")
plt.show()

# %%
# A global model, shared as a file
# --------------------------------
# :func:`~sklearn_soilspec.localised.train_source_model` fits the recommended
# global model (resampling, Savitzky-Golay derivative, a multi-task CNN
# standardised per region). The network here is tiny and trains for a few
# epochs only, to keep the example fast; a real one takes the defaults.
# :func:`~sklearn_soilspec.transfer.save_model` writes the file that is
# shared, and that loads without running code.
tiny = {"channels": (4, 8), "shared_units": (16,), "head_units": 8}
source = train_source_model(library, fast=True, max_epochs=20, module_params=tiny)
model_file = save_model(source, work / "global.soilspec", unit="cm-1",
                        measurement="absorbance", target_units={"OC": "%", "clay": "%"})
print(load_model(model_file)[-1].target_names_)

# %%
# Localising it to the farm
# -------------------------
# :class:`~sklearn_soilspec.localised.LocalisedRegressor` takes the model
# file and, optionally, the library. For each property it fits every
# candidate (the global model as it is, recalibrated and fine-tuned; local
# PLSR and Gaussian processes; memory-based learning and a spiked PLSR of the
# library; the local mean) by 4-fold cross-fitting on the 12 farm samples,
# and keeps the best single candidate unless a blend beats it by a clear
# margin. Fine-tuning runs a few epochs here, for speed.
model = LocalisedRegressor(model_file, library=library, cv=4,
                           fine_tune={"max_epochs": 10}).fit(farm.X, farm.Y)

# %%
# The localisation report
# -----------------------
# One row per property and candidate: its out-of-fold RMSE and the weight it
# got; the ``localised`` rows give the option chosen and the change of its
# out-of-fold RMSE against the global model as it is and against local PLSR
# (negative is better). With the farm's made-up offset, the global model as
# it is should lose to its recalibration.
report = model.localisation_report_
columns = ["property", "candidate", "oof_rmse", "weight", "status"]
print(report[columns].round(3).to_string(index=False))
print(report.loc[report["candidate"] == "localised",
                 ["property", "option", "vs_source_pct", "vs_plsr_pct"]]
      .round(1).to_string(index=False))

# %%
# The same report as a figure: each property's out-of-fold RMSEs relative to
# its best candidate, the weights written above the bars.
fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
plot_localisation(report, ax=ax)
plt.show()

# %%
# Predicting new scans of the farm
# --------------------------------
# New scans need no lab table: ``load_opus`` without ``lab`` reads the
# spectra alone. ``predict_interval`` gives split-conformal intervals from
# the out-of-fold residuals (at the ``coverage`` of the model, 90 %; with
# twelve samples they are rough).
new_folder, _ = make_folder("new", 4, with_lab=False)
new = read_scans(new_folder)
lower, upper = model.predict_interval(new.X)
predicted = pd.DataFrame(model.predict(new.X), index=new.X.index,
                         columns=model.target_names_)
for j, name in enumerate(model.target_names_):
    predicted[f"{name} 90 % interval"] = [f"{lo:.2f} to {hi:.2f}"
                                          for lo, hi in zip(lower[:, j], upper[:, j])]
print(predicted.round(2).to_string())

shutil.rmtree(work)
