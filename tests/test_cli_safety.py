"""The `soilspec` command never destroys a file, never runs a pickle unasked, never tracebacks."""

import errno
import os

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from sklearn_soilspec import _io, cli
from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.neural import SpectralCNNRegressor
from sklearn_soilspec.transfer import save_model

torch.set_num_threads(1)

SMALL = {"channels": (4,), "shared_units": (8,), "head_units": 8}
WL = np.arange(400, 2401, 40)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A two-site library CSV, a spectra CSV, a tiny .soilspec model and a joblib model."""
    folder = tmp_path_factory.mktemp("safety")
    lib = make_spectra(n_samples=60, n_domains=2, wavelengths=WL, random_state=0).as_frame()
    frame = pd.concat([lib.X, lib.Y], axis=1)
    frame.insert(0, "site", lib.groups)
    frame.insert(0, "sample_id", [f"s{i}" for i in range(len(frame))])
    paths = {"library": folder / "library.csv", "spectra": folder / "spectra.csv",
             "model": folder / "model.soilspec", "joblib": folder / "ridge.joblib"}
    frame.to_csv(paths["library"], index=False)
    frame[["sample_id", *lib.X.columns]].to_csv(paths["spectra"], index=False)
    net = SpectralCNNRegressor(module_params=SMALL, max_epochs=2, random_state=0)
    save_model(net.fit(lib.X, lib.Y), paths["model"], unit="nm")
    joblib.dump(Pipeline([("ridge", Ridge())]).fit(lib.X, lib.Y), paths["joblib"])
    return paths


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr()


def _one_line_error(code, io, message):
    assert code == 2, io.err
    lines = io.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("soilspec: error:"), io.err
    assert message in lines[0], lines[0]
    assert "Traceback" not in io.err


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- outputs that are inputs, or exist already --------------------------------------
@pytest.mark.parametrize("target", ["spectra", "model"])
def test_predict_refuses_to_write_onto_an_input(target, files, capsys):
    before = files[target].read_bytes()
    code, io = _run(["predict", files["model"], files["spectra"], "--out", files[target],
                     "--overwrite"], capsys)
    _one_line_error(code, io, "is also an input file")
    assert files[target].read_bytes() == before


def test_an_input_under_another_name_is_still_an_input(files, tmp_path, capsys):
    link = tmp_path / "alias.csv"
    link.symlink_to(files["spectra"])
    before = files["spectra"].read_bytes()
    for out in (link, files["spectra"].parent / ".." / files["spectra"].parent.name
                / "spectra.csv"):
        code, io = _run(["predict", files["model"], files["spectra"], "--out", out,
                         "--overwrite"], capsys)
        _one_line_error(code, io, "is also an input file")
    assert files["spectra"].read_bytes() == before


@pytest.mark.parametrize("target", ["library", "model"])
def test_fine_tune_refuses_to_write_onto_an_input(target, files, monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_model_file", _must_not_be_called)
    before = files[target].read_bytes()
    code, io = _run(["fine-tune", files["model"], files["library"], "--out", files[target]],
                    capsys)
    _one_line_error(code, io, "is also an input file")
    assert files[target].read_bytes() == before


def _must_not_be_called(*args, **kwargs):
    raise AssertionError("the output must be checked before anything is loaded")


def test_existing_output_needs_overwrite(files, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    out.write_text("earlier results\n")
    code, io = _run(["predict", files["model"], files["spectra"], "--out", out], capsys)
    _one_line_error(code, io, "exists already; pass --overwrite")
    assert out.read_text() == "earlier results\n"
    code, io = _run(["predict", files["model"], files["spectra"], "--out", out,
                     "--overwrite"], capsys)
    assert code == 0, io.err
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["sample_id", "OC", "clay", "pH"] and len(pred) == 60
    assert pred["sample_id"].iloc[0] == "s0"
    assert _leftovers(tmp_path) == []


def test_outputs_are_checked_before_training(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_library", _must_not_be_called)
    for argv, message in [
        (["train-global", "--out", tmp_path / "no" / "such" / "model.soilspec"],
         "does not exist; create it first"),
        (["train-global", "--data", "csv", "--path", files["library"], "--out",
          files["library"]], "is also an input file"),
        (["train-global", "--out", tmp_path], "is a folder"),
        (["localise", "--out", files["library"]], "is a file, not a folder"),
        (["localise", "--out", tmp_path / "no" / "such"], "does not exist"),
        (["train-global", "--out", ""], "--out is empty"),
        (["localise", "--out", " "], "--out is empty"),
    ]:
        code, io = _run(argv, capsys)
        _one_line_error(code, io, message)


# -- writes that fail halfway --------------------------------------------------------
class _DiskFull:
    """A file object that takes a few bytes, then fails like a full disk."""

    def __init__(self, f, budget=10):
        self._f, self._budget = f, budget

    def write(self, data):
        if self._budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._budget -= len(data)
        return self._f.write(data[:5])

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(b"the previous valid file\n")
    with pytest.raises(OSError, match="No space left"):
        with _io.atomic_write(path, "wb") as f:
            full = _DiskFull(f)
            for _ in range(100):
                full.write(b"new row of numbers\n")
    assert path.read_bytes() == b"the previous valid file\n"
    assert _leftovers(tmp_path) == []


def test_atomic_write_removes_the_temporary_file_on_ctrl_c(tmp_path):
    path = tmp_path / "table.csv"
    with pytest.raises(KeyboardInterrupt):
        with _io.atomic_write(path, "w") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with _io.atomic_write(path, "w") as f:
        f.write("whole")
    assert path.read_text() == "whole"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_predict_on_a_full_disk_keeps_the_previous_predictions(files, tmp_path, monkeypatch,
                                                                capsys):
    out = tmp_path / "pred.csv"
    code, io = _run(["predict", files["model"], files["spectra"], "--out", out], capsys)
    assert code == 0, io.err
    before = out.read_bytes()
    real_to_csv = pd.DataFrame.to_csv

    def full_disk(self, f, *args, **kwargs):
        return real_to_csv(self, _DiskFull(f), *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    code, io = _run(["predict", files["model"], files["spectra"], "--out", out,
                     "--overwrite"], capsys)
    _one_line_error(code, io, "No space left on device")
    assert out.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_failed_model_save_keeps_the_previous_model(files, tmp_path, monkeypatch, capsys):
    import sklearn_soilspec.transfer as transfer

    out = tmp_path / "local.soilspec"
    out.write_bytes(files["model"].read_bytes())

    def half_save(model, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transfer, "save_model", half_save)
    code, io = _run(["fine-tune", files["model"], files["library"], "--epochs", "1", "--plain",
                     "--out", out, "--overwrite", "--quiet"], capsys)
    _one_line_error(code, io, "No space left on device")
    assert out.read_bytes() == files["model"].read_bytes()
    assert _leftovers(tmp_path) == []


# -- Ctrl-C --------------------------------------------------------------------------
def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("command", ["train-global", "fine-tune"])
def test_ctrl_c_writes_nothing_and_exits_130(command, files, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Pipeline, "fit", _interrupt)
    monkeypatch.setattr(SpectralCNNRegressor, "fit", _interrupt)
    out = tmp_path / "model.soilspec"
    argv = (["train-global", "--data", "csv", "--path", files["library"], "--group-column",
             "site"] if command == "train-global" else ["fine-tune", files["model"],
                                                        files["library"], "--n-jobs", "1"])
    # One process: the patched fit raising Ctrl-C exists only in this one (a real
    # Ctrl-C reaches the parent and its workers alike).
    code, io = _run([*argv, "--out", out, "--quiet"], capsys)
    assert code == 130
    # (fine-tune localises the library's own global model on the library, so
    # the warning that the source saw those spectra comes first.)
    assert io.err.strip().splitlines()[-1] == "soilspec: interrupted: nothing was written"
    assert all(line.startswith("soilspec: warning: The source model was trained on")
               for line in io.err.strip().splitlines()[:-1])
    assert list(tmp_path.iterdir()) == []


# -- pickle files --------------------------------------------------------------------
def test_pickle_models_need_allow_pickle(files, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    code, io = _run(["predict", files["joblib"], files["spectra"], "--out", out], capsys)
    _one_line_error(code, io, "can run any code when loaded; pass --allow-pickle")
    assert not out.exists()
    code, io = _run(["predict", files["joblib"], files["spectra"], "--out", out,
                     "--allow-pickle"], capsys)
    assert code == 0, io.err
    assert "warning" in io.err and "pickle files can run any code" in io.err
    assert len(pd.read_csv(out)) == 60


@pytest.mark.parametrize("content, message", [
    ({"weights": [1, 2, 3]}, "holds a dict, not a fitted scikit-learn model"),
    (Ridge(), "the Ridge in it is not fitted"),
    (b"not a pickle at all", "not a readable joblib file"),
])
def test_a_joblib_file_without_a_fitted_model_is_a_clear_error(content, message, files,
                                                               tmp_path, capsys):
    path = tmp_path / "model.joblib"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        joblib.dump(content, path)
    code, io = _run(["predict", path, files["spectra"], "--out", tmp_path / "p.csv",
                     "--allow-pickle"], capsys)
    assert code == 2 and "Traceback" not in io.err
    assert message in io.err.strip().splitlines()[-1]


# -- devices -------------------------------------------------------------------------
_COMMANDS = {
    "localise": ["localise"],
    "train-global": ["train-global"],
    "fine-tune": ["fine-tune", "{model}", "{library}"],
    "predict": ["predict", "{model}", "{spectra}"],
}


@pytest.mark.parametrize("command", list(_COMMANDS))
@pytest.mark.parametrize("device, message", [
    ("nonsense", "--device 'nonsense' is not a torch device"),
    ("cuda", "no CUDA GPU is available"),
    ("cuda:0", "no CUDA GPU is available"),
])
def test_bad_devices_fail_up_front(command, device, message, files, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cli, "load_library", _must_not_be_called)
    monkeypatch.setattr(cli, "load_model_file", _must_not_be_called)
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in _COMMANDS[command]]
    code, io = _run([*argv, "--device", device], capsys)
    _one_line_error(code, io, message)


# -- report folders ------------------------------------------------------------------
def test_a_reused_report_folder_needs_overwrite_and_loses_only_stale_report_files(
        files, tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "learning_curves.png").write_bytes(b"a figure of an earlier run")
    (out / "report.md").write_text("# an earlier report")
    (out / "my_notes.txt").write_text("mine")
    argv = ["localise", "--data", "csv", "--path", files["library"], "--group-column", "site",
            "--models", "plsr_local", "--out", out, "--quiet"]
    code, io = _run(argv, capsys)
    _one_line_error(code, io, "holds an earlier report")
    assert (out / "report.md").read_text() == "# an earlier report"
    code, io = _run([*argv, "--overwrite"], capsys)
    assert code == 0, io.err
    # No CNN this time, so no learning curves: the old figure must not stay beside new tables.
    assert not (out / "learning_curves.png").exists()
    assert (out / "my_notes.txt").read_text() == "mine"
    assert (out / "report.md").read_text().startswith("# Localisation experiment")
    assert (out / "scores_pooled.csv").is_file()
    assert _leftovers(tmp_path) == []


def test_a_report_that_fails_halfway_leaves_the_earlier_one(files, tmp_path, monkeypatch,
                                                            capsys):
    from sklearn_soilspec.experiments import ExperimentResult

    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("# an earlier report")

    def half_report(self, folder):
        (folder / "scores.csv").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ExperimentResult, "write_report", half_report)
    code, io = _run(["localise", "--data", "csv", "--path", files["library"], "--group-column",
                     "site", "--models", "plsr_local", "--out", out, "--quiet", "--overwrite"],
                    capsys)
    _one_line_error(code, io, "No space left on device")
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]
    assert (out / "report.md").read_text() == "# an earlier report"
    assert _leftovers(tmp_path) == []


def test_a_report_may_not_replace_an_input_in_its_folder(files, tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    data = out / "predictions.csv"  # the name of one of the report's tables
    data.write_bytes(files["library"].read_bytes())
    code, io = _run(["localise", "--data", "csv", "--path", data, "--group-column", "site",
                     "--models", "plsr_local", "--out", out, "--overwrite"], capsys)
    _one_line_error(code, io, "the input 'predictions.csv' would be replaced by the report")
    assert data.read_bytes() == files["library"].read_bytes()


# -- measurement recorded in the model file and checked --------------------------------


def test_reflectance_spectra_into_an_absorbance_model_are_refused(files, tmp_path, capsys):
    lib = make_spectra(n_samples=30, n_domains=1, wavelengths=WL, random_state=1).as_frame()
    model = tmp_path / "abs.soilspec"
    net = SpectralCNNRegressor(module_params=SMALL, max_epochs=1, random_state=0)
    save_model(net.fit(lib.X, lib.Y), model, unit="nm", measurement="absorbance")
    out = tmp_path / "pred.csv"
    code, io = _run(["predict", model, files["spectra"], "--out", out,
                     "--measurement", "reflectance"], capsys)
    _one_line_error(code, io, "takes absorbance spectra but")
    assert not out.exists()
    code, io = _run(["predict", model, files["spectra"], "--out", out,
                     "--measurement", "absorbance"], capsys)
    assert code == 0, io.err
