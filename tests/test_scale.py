"""What keeps a LUCAS-size library flat in memory, and the GPU / mixed-precision paths.

The full-size figures (20,000 x 4,200) come from benchmarks/bench_scale.py;
these tests pin the behaviour behind them at a reduced size.
"""

import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from dataclasses import replace

from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import make_source_model, train_source_model
from sklearn_soilspec.neural import SpectralCNNRegressor
from sklearn_soilspec.neural import _predict
from sklearn_soilspec.neural._data import TensorRows
from sklearn_soilspec.preprocessing import SNV, SavitzkyGolay, Spectrogram, WavelengthResampler

torch.set_num_threads(1)

LUCAS_AXIS = np.arange(400.0, 2500.0, 0.5)  # 4,200 points
TINY_1D = {"channels": (4,), "shared_units": (8,), "head_units": 8}
TINY_2D = {"channels": ((4,), (8,)), "shared_units": (8,), "head_units": 8}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def lucas_like():
    return make_spectra(n_samples=2000, n_domains=4, wavelengths=LUCAS_AXIS, random_state=0)


def _path(wl):
    return [WavelengthResampler(target=(400, 2499, 1), wavelengths=wl), SNV(),
            Spectrogram(flatten=False)]


def test_float32_kept_along_the_path(lucas_like):
    X = lucas_like.X
    assert X.dtype == np.float32 and X.shape == (2000, 4200)
    X.flags.writeable = False  # no step may write into the library
    for step in _path(lucas_like.wavelengths):
        X = step.fit_transform(X)
        assert X.dtype == np.float32, type(step).__name__
    assert X.shape == (2000, 51, 41)


def _extra_memory(transformer, X):
    """Bytes numpy allocates during transform beyond the output itself."""
    transformer.fit(X[:10])
    tracemalloc.start()
    try:
        out = transformer.transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - out.nbytes


@pytest.mark.parametrize(
    "make",
    [lambda: WavelengthResampler(target=(400, 2499, 2), wavelengths=LUCAS_AXIS),
     lambda: WavelengthResampler(target=(400.25, 2499, 1.5), wavelengths=LUCAS_AXIS),
     lambda: SavitzkyGolay(wavelengths=LUCAS_AXIS),
     lambda: SNV(wavelengths=LUCAS_AXIS),
     lambda: Spectrogram(wavelengths=LUCAS_AXIS)],
    ids=["resampler", "resampler-between-points", "savitzky-golay", "snv", "spectrogram"],
)
def test_transform_temporaries_do_not_grow_with_the_library(make, lucas_like):
    # Chunked transforms allocate a fixed working set; a float64 copy or a
    # full-size temporary of the library would double with the rows.
    X = np.concatenate([lucas_like.X, lucas_like.X])
    small, large = _extra_memory(make(), X[:2048]), _extra_memory(make(), X)
    assert large <= 1.25 * small + 2**20, (small, large)


class _RecordingLoader(_predict.TensorBatchLoader):
    seen = []

    def __iter__(self):
        ds = self.dataset
        _RecordingLoader.seen.append((ds.X.data_ptr(), ds.X.dtype, ds.X.untyped_storage().nbytes()))
        yield from super().__iter__()


@pytest.fixture
def recording_loader(monkeypatch):
    _RecordingLoader.seen = []
    monkeypatch.setattr(_predict, "TensorBatchLoader", _RecordingLoader)
    return _RecordingLoader.seen


def test_training_tensors_are_made_once(lucas_like, recording_loader):
    X = WavelengthResampler(target=(400, 2498, 2), wavelengths=LUCAS_AXIS).fit_transform(
        lucas_like.X)
    SpectralCNNRegressor(module_params=TINY_1D, max_epochs=3, patience=None,
                         random_state=0).fit(X, lucas_like.Y)
    # Training and validation iterators of every epoch (3 x 2) read one float32
    # tensor the size of the (standardised) library: no per-epoch or per-split copy.
    assert len(recording_loader) == 6
    assert {ptr for ptr, _, _ in recording_loader} == {recording_loader[0][0]}
    assert all(dtype == torch.float32 for _, dtype, _ in recording_loader)
    assert recording_loader[0][2] == X.nbytes


def test_unstandardised_float32_input_is_not_copied(lucas_like, recording_loader):
    X = np.ascontiguousarray(lucas_like.X[:300, ::8])
    SpectralCNNRegressor(module_params=TINY_1D, max_epochs=1, standardize="none",
                         random_state=0).fit(X, lucas_like.Y[:300])
    assert recording_loader[0][0] == X.ctypes.data  # torch reads the caller's array


# -- mixed precision -------------------------------------------------------------


def _dtype_of_first_conv(model, X):
    seen = []
    conv = model.net_.module_.features[0][0]
    handle = conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        model.predict(X[:4])
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_mixed_precision_on_cpu_matches_float32(precision, dtype, lucas_like):
    X, Y = lucas_like.X[:200, ::16], lucas_like.Y[:200]
    kwargs = dict(module_params=TINY_1D, max_epochs=0, random_state=0)
    ref = SpectralCNNRegressor(**kwargs).fit(X, Y)
    mixed = SpectralCNNRegressor(precision=precision, **kwargs).fit(X, Y)
    assert _dtype_of_first_conv(ref, X) == torch.float32
    assert _dtype_of_first_conv(mixed, X) == dtype
    pred = mixed.predict(X)
    assert pred.dtype == np.float64 and np.isfinite(pred).all()
    # Same weights, lower-precision arithmetic: close, not equal.
    scale = np.abs(ref.predict(X)).max()
    np.testing.assert_allclose(pred, ref.predict(X), atol=0.05 * scale)
    assert mixed.net_.module_.features[0][0].weight.dtype == torch.float32


def test_bf16_training_on_cpu_learns(lucas_like):
    X, Y = lucas_like.X[:400, ::8], lucas_like.Y[:400]
    model = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=6, lr=3e-3,
                                 precision="bf16", random_state=0).fit(X, Y)
    losses = model.history_[:, "train_loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert np.isfinite(model.predict(X)).all()


def test_fp16_scales_the_loss(lucas_like):
    X, Y = lucas_like.X[:200, ::16], lucas_like.Y[:200]
    model = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=2, precision="fp16",
                                 random_state=0).fit(X, Y)
    assert model.net_.grad_scaler_.get_scale() > 0
    assert np.isfinite(model.predict(X)).all()
    fp32 = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=2, random_state=0).fit(X, Y)
    assert getattr(fp32.net_, "grad_scaler_", None) is None


def test_precision_is_validated():
    with pytest.raises(InvalidParameterError, match="'precision' parameter"):
        SpectralCNNRegressor(precision="16").fit(np.ones((4, 8)), np.arange(4.0))


def test_mixed_precision_pipeline_pickles_and_clones(lucas_like):
    import pickle

    X, Y = lucas_like.X[:120, ::16], lucas_like.Y[:120]
    model = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=1, precision="bf16",
                                 random_state=0).fit(X, Y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert clone(model).precision == "bf16"


# -- CUDA (skipped without a GPU) ----------------------------------------------------


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("precision", ["32", "bf16", "fp16"])
def test_cuda_training_and_prediction(precision, lucas_like):
    X, Y = lucas_like.X[:300, ::8], lucas_like.Y[:300]
    model = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=3, device="cuda",
                                 precision=precision, random_state=0).fit(X, Y)
    assert next(model.net_.module_.parameters()).device.type == "cuda"
    pred = model.predict(X)
    assert isinstance(pred, np.ndarray) and np.isfinite(pred).all()
    assert np.isfinite(model.history_[:, "valid_rmse_OC"]).all()


@pytest.mark.cuda
@CUDA
def test_cuda_spectrogram_network(lucas_like):
    X = Spectrogram(flatten=False, wavelengths=LUCAS_AXIS).fit_transform(lucas_like.X[:200])
    model = SpectralCNNRegressor(architecture="spectrogram2d", module_params=TINY_2D,
                                 max_epochs=2, device="cuda", precision="bf16",
                                 random_state=0).fit(X, lucas_like.Y[:200])
    assert model.predict(X).shape == (200, 3)


@pytest.mark.cuda
@CUDA
def test_cuda_fine_tuning_from_a_cpu_model(lucas_like):
    X, Y, groups = lucas_like.X[:, ::8], lucas_like.Y, lucas_like.groups
    local = groups == "domain_0"
    source = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=2,
                                  random_state=0).fit(X[~local], Y[~local])
    tuned = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=2, device="cuda",
                                 warm_start_from=source, freeze_layers="features",
                                 random_state=0).fit(X[local], Y[local])
    assert next(tuned.net_.module_.parameters()).device.type == "cuda"
    assert next(source.net_.module_.parameters()).device.type == "cpu"  # source untouched
    assert np.isfinite(tuned.predict(X[local])).all()
    assert tuned.transfer_report_ is not None


def test_default_prediction_path_keeps_float32(lucas_like):
    # Resampler -> SG derivative -> network: no step may widen the spectra.
    X = lucas_like.X
    X.flags.writeable = False
    for grid in [(400, 2498, 2), (400, 2495, 5), (401.25, 2490, 3.5)]:
        out = WavelengthResampler(target=grid, wavelengths=lucas_like.wavelengths).fit_transform(X)
        assert out.dtype == np.float32 and out.flags.c_contiguous
        out = SavitzkyGolay(window_length=11, polyorder=2, deriv=1).fit_transform(out)
        assert out.dtype == np.float32


@pytest.mark.slow
def test_bench_scale_lucas_predict_runs(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--sections", "lucas-predict", "--quick", "--repeats", "1", "--threads", "1"])
    table = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("| **the default pipeline** | 5 nm |")]
    assert len(table) == 1 and table[0].count("|") == 12


# -- the default global model's prediction path ------------------------------------


def test_source_model_defaults_to_a_5_nm_grid_and_the_fast_network(lucas_like):
    frame = lucas_like.as_frame()
    X, Y = frame.X.iloc[:40], frame.Y.iloc[:40]
    model = make_source_model(max_epochs=1, module_params=TINY_1D).fit(X, Y)
    grid = model[0].target_wavelengths_
    np.testing.assert_array_equal(grid, np.arange(400.0, 2496.0, 5.0))  # not 0.5 nm
    assert model[-1].n_features_in_ == 420
    assert make_source_model()[-1].module_params == {
        "channels": (8, 16, 32), "shared_units": (64,), "head_units": 32}
    assert make_source_model(fast=False)[-1].module_params is None
    # The library's own step, and a given grid, on request.
    native = make_source_model(min_step=None, max_epochs=1, module_params=TINY_1D).fit(X, Y)
    np.testing.assert_array_equal(native[0].target_wavelengths_, LUCAS_AXIS)
    given = make_source_model(grid=(500, 2400, 2), max_epochs=1, module_params=TINY_1D)
    assert given[0].min_step is None
    np.testing.assert_array_equal(given.fit(X, Y)[0].target_wavelengths_,
                                  np.arange(500.0, 2401.0, 2.0))


def test_source_model_keeps_mir_at_4_wavenumbers():
    # A Bruker MIR axis (about 2 cm-1, descending) as a library in cm-1.
    wn = np.linspace(3996.48, 499.82, 1715)
    lib = replace(make_spectra(60, n_domains=2, wavelengths=wn, random_state=0), unit="cm-1")
    model = train_source_model(lib, max_epochs=1, module_params=TINY_1D)
    np.testing.assert_allclose(model[0].target_wavelengths_, np.arange(3996.0, 499.0, -4.0))
    assert make_source_model(unit="cm-1")[0].min_step == 4.0


@pytest.mark.parametrize("min_step, unit, match", [
    (0, "nm", "min_step must be"), ("coarse", "nm", "min_step must be"),
    (True, "nm", "min_step must be"), ("auto", "um", "unit must be"),
])
def test_bad_source_grid_settings_are_errors(min_step, unit, match):
    with pytest.raises(ValueError, match=match):
        make_source_model(min_step=min_step, unit=unit)


@pytest.mark.parametrize("grid", [(400, 2495, 5), (400, 2498, 2), (400.25, 2499, 1.5),
                                  (400.1, 2499.4, 0.7)])
def test_column_major_spectra_resample_to_the_same_bits(lucas_like, grid):
    # A DataFrame's values are column-major; they take another code path.
    X = lucas_like.X[:600]
    rs = WavelengthResampler(target=grid, wavelengths=LUCAS_AXIS).fit(X)
    rows = rs.transform(X)
    cols = rs.transform(np.asfortranarray(X))
    assert cols.flags.c_contiguous and cols.dtype == np.float32
    assert cols.tobytes() == rows.tobytes()
    frame = lucas_like.as_frame().X.iloc[:600]
    assert not np.asarray(frame).flags.c_contiguous  # so the test tests the other path
    framed = WavelengthResampler(target=grid).fit(frame).transform(frame)
    assert framed.tobytes() == rows.tobytes()


def test_column_major_resampling_of_float64_wavenumbers():
    wn = np.linspace(3996.48, 499.82, 1715)
    X = np.random.default_rng(0).random((50, wn.size))
    for target in [(3996, 500, -4), (3990.3, 600, -1.3), wn[::-1][3:-3:5]]:
        rs = WavelengthResampler(target=target, wavelengths=wn).fit(X)
        assert rs.transform(np.asfortranarray(X)).tobytes() == rs.transform(X).tobytes()


@pytest.mark.parametrize("rows", [None, 7, 10_000])
def test_prediction_batches_match_skorch_forward(lucas_like, rows):
    X, Y = lucas_like.X[:500, ::10], lucas_like.Y[:500]
    model = SpectralCNNRegressor(module_params=TINY_1D, max_epochs=1, random_state=0,
                                 predict_batch_size=rows).fit(X, Y)
    X_t = model._to_tensor(model._validate_X(X, reset=False))
    ours = model._forward(X_t)
    net = model.net_
    net.iterator_valid__batch_size = model._predict_rows()
    skorch = net.forward(TensorRows(X_t), training=False).reshape(500, -1).numpy()
    assert ours.dtype == np.float64
    assert ours.tobytes() == skorch.astype(np.float64).tobytes()
    # The net is left as skorch leaves it after a prediction: in eval mode.
    assert not net.module_.training
