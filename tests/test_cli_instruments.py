"""The `soilspec` command on folders of instrument scans (Bruker OPUS, ASD) and a lab table.

The committed scans are few, so each folder holds copies of them under many
sample names: the spectra repeat and the lab values are made up. These runs
check that the files travel end to end (reading, replicate averaging, the
lab join, the experiment, the report, model files and predictions), not
accuracy.
"""

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_soilspec import cli

# find_spec, not importorskip: importing pyASDReader outside load_asd writes a log file.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("brukeropus") is None or importlib.util.find_spec("pyASDReader") is None,
    reason="the instrument extras (opus, asd) are not installed")
torch.set_num_threads(1)

DATA = Path(__file__).parent / "data" / "instruments"
# Absorbance scans of the Alpha and VERTEX on one axis range each are not
# mixed: every folder takes copies of one instrument's files.
SCANS = {"opus": ["icr056141.0", "BF_lo_01_soil_cal.1"],
         "asd": ["235157MD01.asd", "101453MD01.asd"]}


def _folder(tmp_path, kind, n=24):
    folder = tmp_path / kind
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        src = DATA / kind / SCANS[kind][i % 2]
        suffix = src.suffix if kind == "asd" else ".0"
        shutil.copy(src, folder / f"S{i:03d}{suffix}")
        rows.append({"sample_id": f"S{i:03d}", "site": "A" if i < n // 2 else "B",
                     "OC": rng.uniform(0.5, 3.0), "clay": rng.uniform(5, 40)})
    lab = tmp_path / f"{kind}_lab.csv"
    pd.DataFrame(rows).to_csv(lab, index=False)
    return folder, lab


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr()


@pytest.mark.parametrize("kind", ["opus", "asd"])
def test_localise_on_instrument_files(kind, tmp_path, capsys):
    folder, lab = _folder(tmp_path, kind)
    out = tmp_path / "report"
    code, io = _run(["localise", "--data", kind, "--path", folder, "--lab", lab,
                     "--group-column", "site", "--models", "plsr_local", "plsr_global",
                     "--min-domain-size", "10", "--test-size", "0.25", "--out", out,
                     "--quiet"], capsys)
    assert code == 0, io.err
    pooled = pd.read_csv(out / "scores_pooled.csv")
    assert set(pooled["model"]) == {"plsr_local", "plsr_global"}
    assert set(pooled["domain"]) == {"A", "B"}


@pytest.mark.parametrize("kind", ["opus", "asd"])
def test_train_global_and_predict_on_instrument_files(kind, tmp_path, capsys):
    folder, lab = _folder(tmp_path, kind)
    model = tmp_path / "global.soilspec"
    code, io = _run(["train-global", "--data", kind, "--path", folder, "--lab", lab,
                     "--group-column", "site", "--epochs", "1", "--out", model, "--quiet"],
                    capsys)
    assert code == 0, io.err
    pred = tmp_path / "pred.csv"
    code, io = _run(["predict", model, folder, "--data", kind, "--out", pred], capsys)
    assert code == 0, io.err
    table = pd.read_csv(pred)
    assert len(table) == 24 and {"OC", "clay"} <= set(table.columns)


def test_instrument_training_needs_a_lab_table(tmp_path, capsys):
    folder, _ = _folder(tmp_path, "opus", n=4)
    code, io = _run(["train-global", "--data", "opus", "--path", folder,
                     "--out", tmp_path / "m.soilspec"], capsys)
    assert code == 2 and "needs --lab" in io.err, io.err


def test_lab_is_only_for_instrument_files(tmp_path, capsys):
    code, io = _run(["localise", "--data", "limesoda-visnir", "--lab", "lab.csv",
                     "--out", tmp_path / "r"], capsys)
    assert code == 2 and "--lab is only for --data" in io.err, io.err
