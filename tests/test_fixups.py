"""Model files keep set_output and drop runtime objects; LimeSoDa grids as ranges."""

import hashlib
import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.pipeline import make_pipeline

from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.neural import SpectralCNNRegressor
from sklearn_soilspec.preprocessing import SNV, WavelengthResampler
from sklearn_soilspec.transfer import load_model, read_metadata, save_model

torch.set_num_threads(1)

TINY = dict(module_params={"channels": (4,), "shared_units": (8,), "head_units": 8},
            max_epochs=2, batch_size=16, random_state=0)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    wl = np.arange(400.0, 500.0, 2.0)
    X = pd.DataFrame(rng.normal(size=(40, wl.size)), columns=[f"{w:g}" for w in wl])
    Y = pd.DataFrame({"OC": X.to_numpy()[:, :5].sum(axis=1),
                      "clay": X.to_numpy()[:, 20:30].mean(axis=1)})
    return X, Y


def _rewrite_metadata(path, edit):
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("metadata.json"))
        weights = zf.read("weights.pt")
    edit(meta)
    raw = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", raw)
        zf.writestr("weights.pt", weights)
        # Signed again, so that the edit itself is what loading meets.
        zf.writestr("checksums.json", json.dumps({"metadata.json": hashlib.sha256(raw).hexdigest()}))


@pytest.mark.parametrize("order", ["resample_first", "snv_first"])
def test_loaded_pipeline_keeps_pandas_output(frame, tmp_path, order):
    X, Y = frame
    steps = [WavelengthResampler(target=(404, 490, 4)), SNV()]
    if order == "snv_first":
        steps = steps[::-1]
    pipe = make_pipeline(*steps, SpectralCNNRegressor(**TINY)).set_output(transform="pandas")
    pipe.fit(X, Y)
    loaded = load_model(save_model(pipe, tmp_path / "p.soilspec"))
    for k in (1, 2):
        assert isinstance(loaded[:k].transform(X.iloc[:3]), pd.DataFrame)
    with warnings.catch_warnings():
        # "X does not have valid feature names" would mean the axis was lost.
        warnings.simplefilter("error")
        np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert list(loaded[-1].feature_names_in_) == list(pipe[-1].feature_names_in_)


def test_pipeline_without_set_output_stays_default(frame, tmp_path):
    X, Y = frame
    pipe = make_pipeline(SNV(), SpectralCNNRegressor(**TINY)).fit(X.to_numpy(), Y)
    loaded = load_model(save_model(pipe, tmp_path / "p.soilspec"))
    assert isinstance(loaded[:-1].transform(X.to_numpy()[:2]), np.ndarray)
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), pipe.predict(X.to_numpy()))


def test_file_without_output_entry_still_loads(frame, tmp_path):
    # Files written before the output configuration was stored.
    X, Y = frame
    pipe = make_pipeline(SNV(), SpectralCNNRegressor(**TINY)).set_output(transform="pandas")
    path = save_model(pipe.fit(X, Y), tmp_path / "old.soilspec")
    _rewrite_metadata(path, lambda m: [s.pop("output") for s in m["steps"]])
    loaded = load_model(path)
    assert isinstance(loaded[:-1].transform(X.iloc[:2]), np.ndarray)


def test_error_unreadable_output_configuration(frame, tmp_path):
    X, Y = frame
    pipe = make_pipeline(SNV(), SpectralCNNRegressor(**TINY)).set_output(transform="pandas")
    path = save_model(pipe.fit(X, Y), tmp_path / "bad.soilspec")

    def corrupt(meta):
        meta["steps"][0]["output"] = {"transform": "spreadsheet"}

    _rewrite_metadata(path, corrupt)
    with pytest.raises(ValueError, match=r"step 'snv'.*unreadable output configuration"):
        load_model(path)


class _FakeAccelerator:
    """Stands in for accelerate.Accelerator: the methods the constraint asks for."""

    def prepare(self, *args):
        return args

    def autocast(self):
        raise AssertionError("not used: the model is only saved")


def test_save_model_drops_runtime_parameters(frame, tmp_path):
    X, Y = frame
    source = SpectralCNNRegressor(**TINY).fit(X.to_numpy(), Y)
    model = SpectralCNNRegressor(warm_start_from=source, **TINY).fit(X.to_numpy(), Y)
    model.set_params(accelerator=_FakeAccelerator())
    path = save_model(model, tmp_path / "m.soilspec")
    meta = read_metadata(path)
    stored = meta["estimator"]["params"]["__dict__"]
    assert "accelerator" not in stored and "warm_start_from" not in stored
    assert "max_epochs" in stored
    assert meta["training"]["warm_started_from"] == "SpectralCNNRegressor"
    loaded = load_model(path)
    assert loaded.accelerator is None and loaded.warm_start_from is None
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), model.predict(X.to_numpy()))


# --- LimeSoDa grids --------------------------------------------------------


def test_limesoda_grid_tuple_is_a_range_like_the_resampler():
    lib = load_limesoda_spectra(sites=["SSP.460", "CV.98"], grid=(400, 2480, 4),
                                as_frame=False)
    expected = np.arange(400.0, 2481.0, 4.0)
    np.testing.assert_array_equal(lib.wavelengths, expected)
    assert lib.X.shape == (558, expected.size)
    resampler = WavelengthResampler(target=(400, 2480, 4), wavelengths=np.arange(350.0, 2501.0))
    resampler.fit(np.zeros((1, 2151)))
    np.testing.assert_array_equal(lib.wavelengths, resampler.target_wavelengths_)
    # A list stays the grid itself.
    assert load_limesoda_spectra(sites="SC.93", grid=[500, 600, 700],
                                 as_frame=False).X.shape == (93, 3)


@pytest.mark.parametrize(
    "grid, match",
    [
        ((400, 2480, 4), r"grid=\(400, 2480, 4\) asks for 400-2480 nm \(521 points\), outside "
                         r"the range measured at SP\.231 \(350-1700\).*inside 431\.6-1700 nm"),
        ((400, 2480, -4), r"grid=\(400, 2480, -4\) describes no grid"),
        ((400, 2480, 0), r"grid=\(400, 2480, 0\) describes no grid"),
        ([], "grid must hold at least one finite wavelength"),
        ([500, np.nan], "grid must hold at least one finite wavelength"),
        (("a", 2480, 4), r"grid=\('a', 2480, 4\) must be three numbers \(start, stop, step\)"),
    ],
)
def test_limesoda_grid_errors_name_the_grid(grid, match):
    with pytest.raises(ValueError, match=match):
        load_limesoda_spectra(grid=grid)
