"""The `soilspec` command, run in-process on small real data."""

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_soilspec import cli
from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.transfer import load_model

torch.set_num_threads(1)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """CSV files cut from two LimeSoDa vis-NIR sites, and the models trained on them."""
    folder = tmp_path_factory.mktemp("cli")
    lib = load_limesoda_spectra(sites=["MG.44", "SSP.58"]).as_frame()
    frame = pd.concat([lib.X, lib.Y], axis=1)
    frame.insert(0, "site", lib.groups)
    frame.insert(0, "id", lib.sample_ids)
    paths = {"library": folder / "library.csv", "local": folder / "local.csv",
             "spectra": folder / "spectra.csv", "coarse": folder / "coarse.csv",
             "model": folder / "global.soilspec", "local_model": folder / "local.soilspec"}
    frame.to_csv(paths["library"], index=False)
    frame[frame["site"] == "MG.44"].drop(columns="site").to_csv(paths["local"], index=False)
    spectra = frame[frame["site"] == "SSP.58"][["id", *lib.X.columns]]
    spectra.rename(columns={c: f"wl_{c}" for c in lib.X.columns}).to_csv(paths["spectra"],
                                                                         index=False)
    # Every other wavelength (ends kept): predict must interpolate onto the model's grid.
    keep = ["id", *lib.X.columns[::2], lib.X.columns[-1]]
    spectra[keep].to_csv(paths["coarse"], index=False)
    paths["X_ssp"] = spectra[list(lib.X.columns)]
    return paths


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr()


def test_localise_end_to_end(files, tmp_path, capsys):
    out = tmp_path / "report"
    code, io = _run(["localise", "--data", "csv", "--path", files["library"],
                     "--group-column", "site", "--id-column", "id",
                     "--models", "plsr_local", "cnn_transfer", "--epochs", "2",
                     "--out", out], capsys)
    assert code == 0, io.err
    assert "[1/2] domain 'MG.44'" in io.out and "cnn_transfer better than" in io.out
    assert (out / "report.md").is_file()
    for png in ("rmse_bars.png", "observed_predicted.png", "learning_curves.png"):
        assert (out / png).read_bytes().startswith(PNG_SIGNATURE)
    pooled = pd.read_csv(out / "scores_pooled.csv")
    assert set(pooled["model"]) == {"plsr_local", "cnn_global", "cnn_transfer"}
    assert len(pooled) == 3 * 2 * 3  # models x domains x properties


def test_train_global_fine_tune_predict(files, capsys):
    code, io = _run(["train-global", "--data", "csv", "--path", files["library"],
                     "--group-column", "site", "--id-column", "id", "--exclude-domains", "MG.44",
                     "--epochs", "2", "--out", files["model"], "--quiet"], capsys)
    assert code == 0, io.err
    glob = load_model(files["model"])
    assert glob.steps[-1][1].training_summary_["n_samples"] == 58  # SSP.58 only
    assert glob.steps[-1][1].target_names_ == ["OC", "pH", "clay"]
    # Without --quiet the held-out error is said, and it is the model file's.
    code, io = _run(["train-global", "--data", "csv", "--path", files["library"],
                     "--group-column", "site", "--id-column", "id", "--exclude-domains", "MG.44",
                     "--epochs", "2", "--out", files["model"], "--overwrite"], capsys)
    assert code == 0, io.err
    errors = load_model(files["model"]).steps[-1][1].training_summary_["rmse"]
    said = f"Validation RMSE on {errors['n_validation']['OC']} held-out spectra (training RMSE): "
    assert said in io.out
    assert f"OC {errors['validation']['OC']:.4g} ({errors['training']['OC']:.4g})" in io.out

    code, io = _run(["fine-tune", files["model"], files["local"], "--id-column", "id",
                     "--epochs", "2", "--plain", "--out", files["local_model"]], capsys)
    assert code == 0, io.err
    assert "source model -> fine-tuned: OC" in io.out
    local = load_model(files["local_model"])
    assert local.get_params()[f"{local.steps[-1][0]}__freeze_layers"] == "features"
    assert not np.allclose(local.predict(files["X_ssp"]), glob.predict(files["X_ssp"]))

    pred_csv = files["local_model"].with_name("pred.csv")
    code, io = _run(["predict", files["local_model"], files["spectra"], "--id-column", "id",
                     "--out", pred_csv], capsys)
    assert code == 0, io.err
    pred = pd.read_csv(pred_csv)
    assert list(pred.columns) == ["sample_id", "OC", "pH", "clay"]
    assert len(pred) == 58 and pred["sample_id"].str.startswith("SSP.58").all()
    np.testing.assert_allclose(pred[["OC", "pH", "clay"]], local.predict(files["X_ssp"]),
                               rtol=1e-5)

    # Spectra on a coarser grid are interpolated onto the model's.
    code, io = _run(["predict", files["local_model"], files["coarse"], "--id-column", "id",
                     "--out", pred_csv, "--overwrite"], capsys)
    assert code == 0, io.err
    coarse = pd.read_csv(pred_csv)
    assert len(coarse) == 58
    np.testing.assert_allclose(coarse["clay"], pred["clay"], rtol=0.1)


@pytest.mark.parametrize("command", ["localise", "train-global", "fine-tune", "predict"])
def test_every_command_has_help(command, capsys):
    code, io = _run([command, "--help"], capsys)
    assert code == 0
    assert f"usage: soilspec {command}" in io.out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "choose a command"),
        (["localise", "--repeats", "0"], "--repeats: expected a positive integer"),
        (["localise", "--data", "nope"], "argument --data: invalid choice: 'nope'"),
        (["localise", "--test-size", "2"], "expected a number in (0, 1)"),
        (["localise", "--data", "csv"], "--data csv needs --path"),
        (["localise", "--models", "svm"], "Unknown models ['svm']"),
        (["localise", "--data", "csv", "--path", "{tmp}/missing.csv"], "No such file or folder"),
        (["localise", "--data", "csv", "--path", "{library}", "--group-column", "site",
          "--targets", "CEC"], "CEC"),
        (["localise", "--data", "csv", "--path", "{library}", "--group-column", "site",
          "--models", "plsr_local", "--domains", "XX"], "Unknown target domains ['XX']"),
        (["train-global", "--data", "csv", "--path", "{library}", "--group-column", "site",
          "--exclude-domains", "XX"], "Unknown domains ['XX']"),
        (["predict", "{tmp}/missing.soilspec", "{spectra}"], "No such model file"),
        (["predict", "{library}", "{spectra}"], "library.csv"),
        (["fine-tune", "{model}", "{spectra}", "--id-column", "id"], "no property column"),
        (["fine-tune", "{model}"], "the following arguments are required: DATA"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, files, tmp_path, monkeypatch,
                                                capsys):
    if "{model}" in argv and not files["model"].exists():
        pytest.skip("needs the model of test_train_global_fine_tune_predict")
    # Default outputs (soilspec-report, predictions.csv) land in a fresh folder:
    # an earlier run's files in the working directory must not change the error.
    monkeypatch.chdir(tmp_path)
    names = {k: str(v) for k, v in files.items() if k != "X_ssp"}
    argv = [a.format(tmp=tmp_path, **names) for a in argv]
    code, io = _run(argv, capsys)
    assert code == 2
    lines = io.err.strip().splitlines()
    assert len(lines) == 1, io.err
    assert lines[0].startswith("soilspec: error:")
    assert message in lines[0]
    assert "Traceback" not in io.err


@pytest.mark.slow
def test_localise_without_arguments_runs_the_bundled_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, io = _run(["localise"], capsys)
    assert code == 0, io.err
    pooled = pd.read_csv(tmp_path / "soilspec-report" / "scores_pooled.csv")
    assert set(pooled["domain"]) == set(cli.DEFAULT_LIMESODA_DOMAINS["limesoda-visnir"])
    # The default models and the global source of the ensemble recipe.
    assert set(pooled["model"]) == set(cli.DEFAULT_MODELS) | {"cnn_global_domain"}


def test_fine_tune_makes_the_localised_model_and_predict_gives_intervals(files, tmp_path, capsys):
    model = tmp_path / "global.soilspec"
    code, io = _run(["train-global", "--data", "csv", "--path", files["library"],
                     "--group-column", "site", "--id-column", "id", "--exclude-domains", "MG.44",
                     "--epochs", "2", "--out", model, "--quiet"], capsys)
    assert code == 0, io.err
    local = tmp_path / "local.soilspec"
    code, io = _run(["fine-tune", model, files["local"], "--id-column", "id", "--epochs", "2",
                     "--out", local], capsys)
    assert code == 0, io.err
    # Every property says what it uses and how it compares with the simple choices.
    for prop in ("OC", "pH", "clay"):
        assert f"  {prop}: " in io.out and "vs local PLSR" in io.out
    assert "pickle" not in io.out
    # A safe model file: predict reads it without --allow-pickle.
    from sklearn_soilspec.transfer import read_metadata

    assert read_metadata(local)["format_version"] >= 3
    pred = tmp_path / "pred.csv"
    code, io = _run(["predict", local, files["spectra"], "--id-column", "id", "--out", pred],
                    capsys)
    assert code == 0, io.err
    assert "pickle" not in io.err
    table = pd.read_csv(pred)
    assert {"OC", "OC_lower_90", "OC_upper_90"} <= set(table.columns)
    assert (table["OC_lower_90"] <= table["OC"]).all() and (table["OC"] <= table["OC_upper_90"]).all()
    # Asked for by name, a pickle is still written, and then needs --allow-pickle.
    pickled = tmp_path / "local.joblib"
    code, io = _run(["fine-tune", model, files["local"], "--id-column", "id", "--epochs", "2",
                     "--out", pickled, "--quiet"], capsys)
    assert code == 0, io.err
    code, io = _run(["predict", pickled, files["spectra"], "--id-column", "id", "--out",
                     tmp_path / "p2.csv"], capsys)
    assert code == 2 and "--allow-pickle" in io.err


def test_fine_tune_holds_replicate_scans_out_by_sample(files, tmp_path, capsys, monkeypatch):
    # Two scans of every local sample (one id each): the localised model is
    # fitted with the ids as groups, so no fold sees a held-out scan's twin.
    local = pd.read_csv(files["local"])
    twice = tmp_path / "scans.csv"
    pd.concat([local, local]).to_csv(twice, index=False)
    model = tmp_path / "global.soilspec"
    code, io = _run(["train-global", "--data", "csv", "--path", files["library"],
                     "--group-column", "site", "--id-column", "id", "--exclude-domains", "MG.44",
                     "--epochs", "2", "--out", model, "--quiet"], capsys)
    assert code == 0, io.err
    from sklearn_soilspec.localised import LocalisedRegressor

    seen, fit = {}, LocalisedRegressor.fit

    def spy(self, X, y, groups=None):
        seen["groups"] = groups
        return fit(self, X, y, groups=groups)

    monkeypatch.setattr(LocalisedRegressor, "fit", spy)
    code, io = _run(["fine-tune", model, twice, "--id-column", "id", "--epochs", "2",
                     "--out", tmp_path / "local.soilspec"], capsys)
    assert code == 0, io.err
    assert f"{2 * len(local)} rows are scans of {len(local)} samples" in io.out
    assert [str(g) for g in seen["groups"]] == [str(i) for i in local["id"]] * 2


@pytest.mark.parametrize("cores, domains, expected", [(2, None, 2), (2, ["a"], 1),
                                                       (8, ["a", "b", "c"], 3), (1, None, 1)])
def test_localise_runs_one_process_per_domain_up_to_the_cores(monkeypatch, cores, domains,
                                                              expected):
    import joblib

    from sklearn_soilspec.datasets import SpectralLibrary

    monkeypatch.setattr(joblib, "cpu_count", lambda *a, **k: cores)
    X = np.zeros((50, 4))
    lib = SpectralLibrary(X=X, Y=X[:, :1], groups=np.repeat(["a", "b", "c"], [20, 20, 10]),
                          wavelengths=np.arange(4.0), target_names=["OC"])
    # Only domains large enough to be target domains count.
    assert cli._domain_jobs(lib, domains, min_domain_size=20) == expected


def test_train_global_grid_step(files, tmp_path, capsys):
    model = tmp_path / "coarse.soilspec"
    code, io = _run(["train-global", "--data", "csv", "--path", files["library"],
                     "--group-column", "site", "--id-column", "id", "--epochs", "1",
                     "--grid-step", "20", "--out", model, "--quiet"], capsys)
    assert code == 0, io.err
    grid = load_model(model).named_steps["resample"].target_wavelengths_
    assert np.diff(grid).min() >= 20 - 1e-9
    code, io = _run(["train-global", "--grid-step", "0"], capsys)
    assert code == 2 and "--grid-step: expected a positive number" in io.err


def test_the_held_out_error_of_a_property_measured_in_few_rows_says_so():
    from sklearn_soilspec.cli import _describe_fit_errors

    said = _describe_fit_errors({
        "training": {"OC": 1.0, "CEC": 2.0, "P": 3.0},
        "validation": {"OC": 1.5, "CEC": None, "P": 4.0},
        "n_training": {"OC": 90, "CEC": 10, "P": 60}, "n_validation": {"OC": 20, "CEC": 0, "P": 7}})
    assert said == ("Validation RMSE on 20 held-out spectra (training RMSE): OC 1.5 (1), P 4 (3; "
                    "7 rows); not measured in them: CEC; kept in the model file.")
    assert "records no validation error" in _describe_fit_errors(None)

