"""SpectralCNNRegressor, its networks and its masked multi-task loss."""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from sklearn_soilspec.neural import (
    MaskedMultiTaskMSELoss,
    SpectralCNNRegressor,
    SpectralConv1d,
    SpectrogramConv2d,
    nan_r2_score,
)

torch.set_num_threads(1)

TINY = {"channels": (4, 8), "kernel_size": 5, "shared_units": (16,), "head_units": 8}


def tiny(**kw):
    params = dict(module_params=TINY, max_epochs=4, batch_size=32, random_state=0)
    params.update(kw)
    return SpectralCNNRegressor(**params)


def smooth_spectra(rng, n=160, p=64):
    """Smooth random curves with two absorption bands whose depths are the targets."""
    grid = np.linspace(0, 1, p)
    depth = rng.uniform(0, 1, size=(n, 2))
    band = lambda c: np.exp(-0.5 * ((grid - c) / 0.05) ** 2)  # noqa: E731
    X = depth[:, :1] * band(0.3) + depth[:, 1:] * band(0.7)
    X = X + 0.02 * rng.normal(size=(n, p)) + rng.normal(0, 0.1, size=(n, 1))
    return X, depth * np.array([10.0, 40.0]) + np.array([1.0, 20.0])


# -- networks -------------------------------------------------------------------


def test_spectrogram_net_adapts_to_a_short_spectrum():
    # 251 points with a 100-point window give a 51 x 4 image: the time axis
    # stops pooling when it reaches one cell instead of failing.
    net = SpectrogramConv2d((51, 4), ["OC", "clay"], channels=((4,), (4, 4), (8, 8)))
    out = net(torch.zeros(3, 51 * 4))
    assert out.shape == (3, 2)
    assert net(torch.zeros(3, 51, 4)).shape == (3, 2)
    assert [n for n, _ in net.named_children()] == ["features", "shared", "heads"]
    assert len(net.features) == 3 and set(net.heads) == {"OC", "clay"}


def test_spectrogram_net_rejects_an_impossible_image():
    with pytest.raises(ValueError, match="finer wavelength grid or a smaller window"):
        SpectrogramConv2d((51, 1), ["OC"])


def test_conv1d_net_shapes_and_groups():
    net = SpectralConv1d(30, ["a", "b", "c"], channels=(2, 4, 4, 4, 4, 4), kernel_size=4)
    assert net(torch.zeros(5, 30)).shape == (5, 3)
    assert len(net.features) == 6


# -- loss -----------------------------------------------------------------------


def test_masked_loss_gradient_of_missing_entry_is_zero():
    y_true = torch.tensor([[1.0, float("nan")], [2.0, 3.0], [0.0, float("nan")]])
    y_pred = torch.randn(3, 2, requires_grad=True)
    loss = MaskedMultiTaskMSELoss()(y_pred, y_true)
    loss.backward()
    assert torch.isfinite(loss)
    assert y_pred.grad[0, 1] == 0 and y_pred.grad[2, 1] == 0
    assert (y_pred.grad[:, 0] != 0).all() and y_pred.grad[1, 1] != 0


def test_masked_loss_equals_mse_without_missing_and_weights_tasks():
    y_true, y_pred = torch.randn(8, 2), torch.randn(8, 2)
    per_task = ((y_pred - y_true) ** 2).mean(dim=0)
    assert torch.isclose(MaskedMultiTaskMSELoss()(y_pred, y_true), per_task.mean())
    weighted = MaskedMultiTaskMSELoss(task_weights=[3.0, 1.0])(y_pred, y_true)
    assert torch.isclose(weighted, (3 * per_task[0] + per_task[1]) / 4)


def test_masked_loss_all_missing_batch_is_zero_with_graph():
    y_pred = torch.randn(2, 1, requires_grad=True)
    loss = MaskedMultiTaskMSELoss()(y_pred, torch.full((2, 1), float("nan")))
    loss.backward()
    assert loss.item() == 0 and (y_pred.grad == 0).all()


# -- regressor ----------------------------------------------------------------------


def test_recovers_a_known_signal(rng):
    X, Y = smooth_spectra(rng, n=300)
    model = tiny(max_epochs=40, lr=3e-3, patience=10).fit(X[:240], Y[:240])
    pred = model.predict(X[240:])
    assert pred.shape == (60, 2)
    # Predictions are back in the targets' units (second target around 20-60).
    assert 15 < pred[:, 1].mean() < 65
    assert min(r2_score(Y[240:, j], pred[:, j]) for j in range(2)) > 0.7


def test_missing_targets_still_learnt_from_the_rest(rng):
    X, Y = smooth_spectra(rng, n=300)
    Y_holes = Y[:240].copy()
    Y_holes[rng.random(240) < 0.3, 1] = np.nan
    model = tiny(max_epochs=40, lr=3e-3, patience=10).fit(X[:240], Y_holes)
    assert np.isfinite(model.history_[:, "train_loss"]).all()
    assert r2_score(Y[240:, 1], model.predict(X[240:])[:, 1]) > 0.6
    # score ignores the holes instead of failing on them
    assert np.isfinite(model.score(X[:240], Y_holes))


def test_same_seed_same_predictions_other_seed_differs(rng):
    X, Y = smooth_spectra(rng, n=80)
    a = tiny().fit(X, Y).predict(X)
    b = tiny().fit(X, Y).predict(X)
    c = tiny(random_state=1).fit(X, Y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_global_torch_rng_alone(rng):
    X, Y = smooth_spectra(rng, n=40)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny().fit(X, Y)
    assert torch.equal(torch.rand(3), expected)


def test_dataframe_targets_and_1d_target(rng):
    X, Y = smooth_spectra(rng, n=60)
    cols = [f"wl_{w}" for w in range(400, 400 + 2 * X.shape[1], 2)]
    Xdf = pd.DataFrame(X, columns=cols)
    model = tiny().fit(Xdf, pd.DataFrame(Y, columns=["OC", "clay"]))
    assert model.target_names_ == ["OC", "clay"]
    assert list(model.net_.module_.heads) == ["OC", "clay"]
    np.testing.assert_array_equal(model.wavelengths_, np.arange(400, 400 + 2 * X.shape[1], 2))
    single = tiny().fit(X, Y[:, 0])
    assert single.predict(X).shape == (60,)
    assert tiny().fit(X, pd.Series(Y[:, 0], name="OC")).target_names_ == ["OC"]


def test_explicit_validation_data_and_history(rng):
    X, Y = smooth_spectra(rng, n=80)
    model = tiny(validation_fraction=None).fit(X[:60], Y[:60], validation_data=(X[60:], Y[60:]))
    assert model.training_summary_["n_valid"] == 20
    assert model.training_summary_["n_train"] == 60
    first = model.history_[0]
    assert {"train_loss", "valid_loss", "valid_rmse_target_0", "valid_rmse_target_1"} <= set(first)


def test_no_validation_monitors_training_loss(rng):
    X, Y = smooth_spectra(rng, n=40)
    model = tiny(validation_fraction=None, patience=2).fit(X, Y)
    assert "valid_loss" not in model.history_[-1]
    assert model.training_summary_["n_valid"] == 0
    assert "rmse" not in model.training_summary_  # no gap to record


def test_training_and_validation_errors_are_recorded_per_property(rng, tmp_path):
    # The network's own generalisation gap (validation over training RMSE),
    # which a LocalisedRegressor uses where the network saw the local rows.
    from sklearn_soilspec.transfer import load_model, save_model

    X, Y = smooth_spectra(rng, n=80)
    Y[:10, 1] = np.nan
    model = tiny().fit(X, Y)
    errors = model.training_summary_["rmse"]
    P = model.predict(X)
    from sklearn_soilspec.neural._inputs import validation_rows

    train, valid = validation_rows(80, 0.1, model.random_state)
    for j, t in enumerate(model.target_names_):
        for part, idx in (("training", train), ("validation", valid)):
            ok = idx[~np.isnan(Y[idx, j])]
            assert errors[f"n_{part}"][t] == len(ok)
            np.testing.assert_allclose(errors[part][t],
                                       np.sqrt(np.mean((P[ok, j] - Y[ok, j]) ** 2)), rtol=1e-4)
    path = save_model(model, tmp_path / "m.soilspec")
    assert load_model(path).training_summary_["rmse"] == errors


def test_early_stopping_restores_best_weights(rng):
    X, Y = smooth_spectra(rng, n=80)
    model = tiny(max_epochs=30, patience=3, lr=0.05).fit(X, Y)
    history = model.history_
    best = int(np.argmin(history[:, "valid_loss"]))
    assert len(history) < 30 or best < len(history) - 1
    # The restored net reproduces the best epoch's validation loss.
    order = np.random.RandomState(0).permutation(80)
    rows = np.sort(order[: int(np.ceil(0.1 * 80))])
    pred = model.predict(X[rows])
    scaled = lambda a: (a - model.y_mean_) / model.y_scale_  # noqa: E731
    loss = np.mean(((scaled(pred) - scaled(Y[rows])) ** 2).mean(axis=0))
    assert loss == pytest.approx(history[best, "valid_loss"], rel=1e-4)


def test_verbose_prints_epoch_table(rng, capsys):
    X, Y = smooth_spectra(rng, n=40)
    tiny(max_epochs=2, verbose=1).fit(X, Y)
    assert "valid_loss" in capsys.readouterr().out
    tiny(max_epochs=2).fit(X, Y)
    assert capsys.readouterr().out == ""


def test_task_weights_by_name(rng):
    X, Y = smooth_spectra(rng, n=40)
    model = tiny(task_weights={"b": 2.0}).fit(X, pd.DataFrame(Y, columns=["a", "b"]))
    assert model.net_.criterion_.task_weights.tolist() == [1.0, 2.0]


def test_pickle_and_clone(rng):
    X, Y = smooth_spectra(rng, n=60)
    model = tiny().fit(X, Y)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    buf.seek(0)
    np.testing.assert_array_equal(joblib.load(buf).predict(X), model.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    fresh = clone(model)
    assert not hasattr(fresh, "net_") and fresh.get_params()["module_params"] == TINY


def test_predictions_do_not_depend_on_the_prediction_batch(rng):
    from sklearn_soilspec.neural._net import cache_sized_batch

    X, Y = smooth_spectra(rng, n=70)
    model = tiny().fit(X, Y)
    auto = model.predict(X)
    # Read at prediction time: set_params after fit applies to the next call.
    for rows in (1, 7, 500):
        np.testing.assert_allclose(model.set_params(predict_batch_size=rows).predict(X), auto,
                                   rtol=1e-5, atol=1e-6)
    # The automatic batch follows the widest activation: 4 channels x 64 points here.
    module = model.net_.module_
    assert cache_sized_batch(module, (64,), budget_bytes=4 * 4 * 64 * 20) == 20
    assert cache_sized_batch(module, (64,), budget_bytes=1) == 16
    assert module.training is False


def test_the_automatic_prediction_batch_leaves_a_training_module_in_training_mode():
    from sklearn_soilspec.neural._net import cache_sized_batch

    net = SpectralConv1d(64, ["OC"], **TINY).train()
    assert cache_sized_batch(net, (64,)) == 1024
    assert net.training


# -- pipelines and model selection ---------------------------------------------------


def test_pipeline_after_spectrogram(rng):
    from sklearn_soilspec.preprocessing import Spectrogram

    X, Y = smooth_spectra(rng, n=60, p=251)
    image_net = {"channels": ((4,), (4,), (8,)), "shared_units": (8,), "head_units": 8}
    for spectrogram, extra in [
        (Spectrogram(flatten=False), {}),
        (Spectrogram(), {"image_shape": (51, 4)}),
        (Spectrogram().set_output(transform="pandas"), {}),  # shape read from f<i>_t<j> names
    ]:
        pipe = make_pipeline(
            spectrogram,
            tiny(architecture="spectrogram2d", module_params=image_net, max_epochs=2, **extra),
        ).fit(X, Y)
        assert pipe[-1].input_shape_ == (51, 4)
        pred = pipe.predict(X)
        assert pred.shape == (60, 2) and np.isfinite(pred).all()
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).predict(X), pred)


def test_pipeline_after_savitzky_golay(rng):
    from sklearn_soilspec.preprocessing import SavitzkyGolay

    X, Y = smooth_spectra(rng, n=60)
    pipe = make_pipeline(SavitzkyGolay(), tiny()).fit(X, Y)
    pred = pipe.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).predict(X), pred)


def test_grid_search_over_learning_rates(rng):
    X, Y = smooth_spectra(rng, n=60)
    search = GridSearchCV(
        tiny(max_epochs=2), {"lr": [1e-3, 1e-2]}, cv=KFold(2, shuffle=True, random_state=0)
    ).fit(X, Y)
    assert search.best_params_["lr"] in (1e-3, 1e-2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_nan_r2_score_ignores_missing_entries():
    y = np.array([[1.0, 5.0], [2.0, np.nan], [3.0, 7.0], [4.0, 8.0]])
    p = np.array([[1.0, 5.0], [2.0, 1e6], [3.0, 7.0], [4.0, 8.0]])
    assert nan_r2_score(y, p) == 1.0
    assert nan_r2_score(y[:, 0], p[:, 0] + 1) < 1.0


# -- errors -----------------------------------------------------------------------


def test_error_wrong_input_width_at_predict(rng):
    X, Y = smooth_spectra(rng, n=40)
    model = tiny(max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="X has 60 features, but SpectralCNNRegressor is expecting 64"):
        model.predict(X[:, :60])


def test_error_wrong_spectrogram_shape_at_predict(rng):
    X = rng.normal(size=(20, 6, 5))
    model = tiny(architecture="spectrogram2d", max_epochs=1,
                 module_params={"channels": ((2,),), "shared_units": (4,), "head_units": 4})
    model.fit(X, rng.normal(size=20))
    with pytest.raises(ValueError, match="spectrograms of 5 x 6 .* trained on 6 x 5"):
        model.predict(rng.normal(size=(2, 5, 6)))


def test_error_nan_or_inf_spectra(rng):
    X, Y = smooth_spectra(rng, n=40)
    X[3, 5] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        tiny().fit(X, Y)
    X[3, 5] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        tiny().fit(X, Y)


def test_error_target_never_measured(rng):
    X, Y = smooth_spectra(rng, n=40)
    Y[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"Target\(s\) \['clay'\] of y hold no measured value"):
        tiny().fit(X, pd.DataFrame(Y, columns=["OC", "clay"]))


def test_error_too_few_samples_for_validation(rng):
    X, Y = smooth_spectra(rng, n=3)
    with pytest.raises(ValueError, match="Too few samples for a validation split: got 3 sample"):
        tiny(validation_fraction=0.5).fit(X, Y)


def test_error_unknown_architecture(rng):
    X, Y = smooth_spectra(rng, n=20)
    with pytest.raises(ValueError, match="'architecture' parameter .* must be a str among"):
        tiny(architecture="lstm").fit(X, Y)


def test_error_spectrogram_without_image_shape(rng):
    X, Y = smooth_spectra(rng, n=20)
    with pytest.raises(ValueError, match="needs the spectrogram's shape"):
        tiny(architecture="spectrogram2d").fit(X, Y)
    with pytest.raises(ValueError, match=r"image_shape=\(5, 5\) gives 25 values .* 64 columns"):
        tiny(architecture="spectrogram2d", image_shape=(5, 5)).fit(X, Y)


def test_error_3d_input_for_conv1d(rng):
    with pytest.raises(ValueError, match="spectrograms need architecture='spectrogram2d'"):
        tiny().fit(rng.normal(size=(10, 4, 4)), rng.normal(size=10))


def test_error_unknown_module_param(rng):
    X, Y = smooth_spectra(rng, n=20)
    with pytest.raises(ValueError, match=r"module_params has unknown key\(s\) \['width'\]"):
        tiny(module_params={"width": 3}).fit(X, Y)


def test_error_task_weights_mismatch(rng):
    X, Y = smooth_spectra(rng, n=20)
    with pytest.raises(ValueError, match="task_weights has 3 values for 2 targets"):
        tiny(task_weights=[1, 1, 1]).fit(X, Y)
    with pytest.raises(ValueError, match=r"unknown target\(s\) \['pH'\]"):
        tiny(task_weights={"pH": 1}).fit(X, Y)


def test_error_target_rows_mismatch(rng):
    X, Y = smooth_spectra(rng, n=20)
    with pytest.raises(ValueError, match="X has 20 samples but y has 19"):
        tiny().fit(X, Y[:19])


# -- real data ------------------------------------------------------------------------


def test_learns_oc_and_clay_on_limesoda_site():
    from sklearn_soilspec.datasets import load_limesoda_spectra

    lib = load_limesoda_spectra(sites=["SSP.460"], grid="native")
    test = lib.folds <= 2  # LimeSoDa's own folds, not the (spatial) file order
    model = SpectralCNNRegressor(
        module_params={"channels": (8, 16, 32), "kernel_size": 7, "shared_units": (32,),
                       "head_units": 32},
        max_epochs=60, patience=15, lr=3e-3, random_state=0,
    ).fit(lib.X[~test], lib.Y[~test])
    pred = pd.DataFrame(model.predict(lib.X[test]), columns=model.target_names_)
    r2 = {t: r2_score(lib.Y[test][t], pred[t]) for t in ("OC", "clay")}
    assert r2["OC"] > 0.2 and r2["clay"] > 0.6, r2


def test_an_edited_target_scaling_is_named_not_a_broadcast_error_or_nan():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 32)).astype(np.float32)
    Y = np.c_[X[:, :4].sum(1), X[:, 4:8].sum(1)]
    m = SpectralCNNRegressor(module_params={"channels": (4,), "shared_units": (8,),
                                            "head_units": 8}, max_epochs=2).fit(X, Y)
    good = m.predict(X[:2])
    m.y_mean_ = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="y_mean_ must hold 2 finite values"):
        m.predict(X[:2])
    m.y_mean_ = np.array([np.nan, 0.0])
    with pytest.raises(ValueError, match="y_mean_ must hold 2 finite values"):
        m.predict(X[:2])
    m.y_mean_ = np.zeros(2)
    assert np.isfinite(m.predict(X[:2])).all() and m.predict(X[:2]).shape == good.shape
