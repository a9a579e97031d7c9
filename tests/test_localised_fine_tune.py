"""The fine-tuned member: epochs chosen out of fold, the source as it is among the options."""

import numpy as np
import pytest
import torch

from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import LocalisedRegressor, train_source_model
from sklearn_soilspec.localised._fine_tune import (
    SOURCE,
    CheckpointedCNN,
    predict_at,
    select_epochs,
    train,
)
from sklearn_soilspec.localised._members import FineTunedMember, TransferView
from sklearn_soilspec.localised._recipes import FINE_TUNE_CHECKPOINTS, fine_tune_params
from sklearn_soilspec.neural import SpectralCNNRegressor

torch.set_num_threads(1)

TINY = {"channels": (4,), "shared_units": (8,), "head_units": 8}
WL = np.arange(400.0, 2500.0, 20.0)


@pytest.fixture(scope="module")
def setting():
    lib = make_spectra(240, n_domains=4, wavelengths=WL, targets=("OC", "clay"),
                       random_state=0).as_frame()
    local, glob = lib.split_domain("domain_3")
    source = train_source_model(glob, max_epochs=3, module_params=TINY)
    view = TransferView(source, WL)
    return local, glob, source, view


def _params(source, **kw):
    params = fine_tune_params(source[-1], 30, dict(max_epochs=4, checkpoints=(0, 2, 4), **kw))
    return params


def test_checkpoints_are_the_runs_they_stand_for(setting):
    local, _, source, view = setting
    F, Y = view.features(local.X.to_numpy()[:24]), local.Y.to_numpy()[:24]
    params = {k: v for k, v in _params(source).items()
              if k not in ("checkpoints", "inner_cv", "select_margin")}
    names = list(local.Y.columns)
    net = train(source[-1], F, Y, names, (0, 2, 4), 7, params)
    assert sorted(net.checkpoints_) == [0, 2, 4]
    # Frozen convolutions are not copied: they never change.
    assert not any(k.startswith("features.") for k in net.checkpoints_[2])
    final = np.asarray(net.predict(F))
    untrained = SpectralCNNRegressor(warm_start_from=source[-1], random_state=7,
                                     **dict(params, max_epochs=0)).fit(F, local.Y.iloc[:24])
    assert np.allclose(predict_at(net, 0, F), untrained.predict(F), atol=1e-5)
    assert not np.allclose(predict_at(net, 0, F), final)
    assert np.allclose(predict_at(net, 4, F), final, atol=1e-5)
    two = SpectralCNNRegressor(warm_start_from=source[-1], random_state=7,
                               **dict(params, max_epochs=2)).fit(F, local.Y.iloc[:24])
    assert np.allclose(predict_at(net, 2, F), two.predict(F), atol=1e-4)


def test_early_stopping_before_a_checkpoint_keeps_the_final_weights(setting):
    local, _, source, view = setting
    F = view.features(local.X.to_numpy()[:30])
    net = CheckpointedCNN(warm_start_from=source[-1], module_params=TINY, max_epochs=3,
                          freeze_layers="features", random_state=0)
    net.checkpoint_epochs = (0, 50)
    net.fit(F, local.Y.iloc[:30])
    assert np.allclose(predict_at(net, 50, F), net.predict(F))


def test_a_perfect_source_is_kept_and_a_poor_one_is_left(setting):
    local, _, source, view = setting
    X, Y = local.X.to_numpy()[:30], local.Y.to_numpy()[:30]
    F, names = view.features(X), list(local.Y.columns)
    params = {k: v for k, v in _params(source).items()
              if k not in ("checkpoints", "inner_cv", "select_margin")}
    choice, table = select_epochs(source[-1], F, Y, Y.copy(), names, (0, 2, 4), 3, 0.0, 0,
                                  params)
    assert choice == [SOURCE, SOURCE]
    assert list(table.index) == ["source", "epoch_0", "epoch_2", "epoch_4"]
    assert (table.loc["source"] == 0).all()
    poor = Y + 10 * np.nanstd(Y, axis=0)
    choice, table = select_epochs(source[-1], F, Y, poor, names, (0, 2, 4), 3, 0.0, 0, params)
    assert all(c in (0, 2, 4) for c in choice)
    assert (table.loc["source"] > table.drop("source").min()).all()


def test_member_predicts_the_source_where_it_chose_it(setting):
    local, _, source, view = setting
    X, Y = local.X.to_numpy()[:30], local.Y.to_numpy()[:30]
    # A margin no fine-tuning can clear: every property stays with the source.
    member = FineTunedMember(view, {0: 0, 1: 1}, None, _params(source, select_margin=50.0),
                             1, 0).fit(X, Y)
    assert member.choice_ == [SOURCE, SOURCE] and member.estimators_ == []
    assert np.allclose(member.predict(X[:5]), view.predict(X[:5]))
    # Without checkpoints: the end of one run, as before.
    plain = {k: v for k, v in _params(source).items() if k != "checkpoints"}
    member = FineTunedMember(view, {0: 0, 1: 1}, None, plain, 2, 0).fit(X, Y)
    assert member.choice_ == [4, 4] and len(member.estimators_) == 2
    assert member.selection_ is None
    assert np.isfinite(member.predict(X[:5])).all()


def test_member_with_a_gappy_property(setting):
    local, _, source, view = setting
    X, Y = local.X.to_numpy()[:24], local.Y.to_numpy()[:24].copy()
    Y[5:, 1] = np.nan  # clay on five rows: inner folds with one or two of them
    member = FineTunedMember(view, {0: 0, 1: 1}, None, _params(source), 1, 0).fit(X, Y)
    assert len(member.choice_) == 2
    assert np.isfinite(member.predict(X[:3])).all()


def test_defaults_choose_among_checkpoints_without_early_stopping(setting):
    _, _, source, _ = setting
    params = fine_tune_params(source[-1], 30, None)
    assert params["checkpoints"] == FINE_TUNE_CHECKPOINTS and 0 in FINE_TUNE_CHECKPOINTS
    assert params["validation_fraction"] is None and params["patience"] is None
    assert params["max_epochs"] == max(FINE_TUNE_CHECKPOINTS)
    assert params["lr"] < source[-1].lr  # never faster than the source learnt
    # Hundreds of rows: about the same number of gradient steps, not ten times as many.
    big = fine_tune_params(source[-1], 1000, None)
    assert big["max_epochs"] < params["max_epochs"] and big["checkpoints"][0] == 0
    assert big["max_epochs"] * -(-1000 // big["batch_size"]) <= 200
    with pytest.raises(ValueError, match="random_state"):
        fine_tune_params(source[-1], 30, {"random_state": 1})


def test_localised_regressor_reports_the_member(setting):
    local, _, source, _ = setting
    model = LocalisedRegressor(source, members=["source", "fine_tuned", "mean"], cv=3,
                               fine_tune={"max_epochs": 2, "checkpoints": (0, 2)})
    model.fit(local.X.iloc[:18], local.Y.iloc[:18])
    assert np.isfinite(model.predict(local.X.iloc[18:22])).all()
    rep = model.localisation_report_
    assert rep.loc[rep.candidate == "fine_tuned", "status"].str.startswith("ok").all()
