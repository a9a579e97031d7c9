"""Model files of models that are not a network: the LocalisedRegressor and PLSR Pipelines."""

import hashlib
import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from sklearn_soilspec.baselines import PLSRegressionCV
from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import LocalisedRegressor, train_source_model
from sklearn_soilspec.preprocessing import SavitzkyGolay
from sklearn_soilspec.transfer import as_source, load_model, read_metadata, save_model

torch.set_num_threads(1)

TINY = {"channels": (4,), "shared_units": (8,), "head_units": 8}
WL = np.arange(400.0, 2500.0, 20.0)


@pytest.fixture(scope="module")
def split():
    lib = make_spectra(240, n_domains=3, wavelengths=WL, targets=("OC", "clay"),
                       random_state=0).as_frame()
    local, glob = lib.split_domain("domain_2")
    return local, glob


@pytest.fixture(scope="module")
def cnn_source(split):
    return train_source_model(split[1], max_epochs=3, module_params=TINY)


@pytest.fixture(scope="module")
def pls_source(split):
    return Pipeline([("sg", SavitzkyGolay(deriv=1)),
                     ("pls", PLSRegressionCV(8, random_state=0))]).fit(split[1].X, split[1].Y)


def _fit(source, split, members, **kw):
    local, glob = split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LocalisedRegressor(source, library=glob, members=members, cv=3,
                                  fine_tune={"max_epochs": 2}, **kw).fit(local.X[:30],
                                                                         local.Y[:30])


def _same(a, b, X):
    assert np.array_equal(a.predict(X), b.predict(X))
    for coverage in (None, 0.5):
        for lo_hi_a, lo_hi_b in zip(a.predict_interval(X, coverage),
                                    b.predict_interval(X, coverage)):
            assert np.array_equal(lo_hi_a, lo_hi_b)
    pd.testing.assert_frame_equal(a.weights_, b.weights_)
    pd.testing.assert_frame_equal(a.localisation_report_, b.localisation_report_)
    assert b.target_names_ == a.target_names_ and list(b.members_) == list(a.members_)
    assert b.skipped_ == a.skipped_ and b.failures_ == a.failures_


# One candidate at a time gets all the weight, so each kind is in members_
# (gpr_d2 is made of gpr's classes, plsr is in the tests below).
@pytest.mark.parametrize("member", ["source", "source_corrected", "fine_tuned", "gpr", "mbl",
                                    "spiked_plsr", "mean"])
def test_every_candidate_round_trips_exactly(member, split, cnn_source, tmp_path):
    model = _fit(cnn_source, split, [member])
    assert list(model.members_) == [member]
    path = save_model(model, tmp_path / "local.soilspec", unit="nm", measurement="absorbance")
    loaded = load_model(path)
    _same(model, loaded, split[0].X[30:])
    meta = read_metadata(path)
    assert meta["format_version"] == 3 and meta["kind"] == "tree"
    assert meta["class"] == "sklearn_soilspec.localised.LocalisedRegressor"
    assert (meta["unit"], meta["measurement"], meta["targets"]["names"]) == (
        "nm", "absorbance", ["OC", "clay"])
    # The source is one object: the parameter and source_ (and below, what
    # every fine-tuned fold model was warm started from).
    assert loaded.source is loaded.source_
    if member == "fine_tuned":
        folds = loaded.members_[member].estimators_
        assert all(f.view is folds[0].view for f in folds)
        nets = [n for f in folds for n in f.estimators_]
        assert nets and all(n.warm_start_from is loaded.source_[-1] for n in nets)
    if member in ("mbl", "spiked_plsr"):
        # The library is not written into a shared file; memory-based
        # learning keeps the rows it searches, so it still predicts.
        assert model.library is not None and loaded.library is None
        member_of = loaded.members_[member]
        for m in getattr(member_of, "estimators_", [member_of]):
            assert m.library_X.shape == (0, len(WL)) and m.library_Y.shape == (0, 2)
    if member == "gpr":
        # The Gaussian processes keep their random state exactly.
        rs_a = model.members_["gpr"].estimator_[-1].estimators_[0]._rng.get_state()
        rs_b = loaded.members_["gpr"].estimator_[-1].estimators_[0]._rng.get_state()
        assert rs_a[0] == rs_b[0] and np.array_equal(rs_a[1], rs_b[1]) and rs_a[2:] == rs_b[2:]


def test_a_blend_round_trips(split, pls_source, tmp_path):
    model = _fit(pls_source, split, ["source", "source_corrected", "plsr", "mean"], margin=0.0)
    assert ((model.weights_ > 0).sum() >= 2).all()
    _same(model, load_model(save_model(model, tmp_path / "local.soilspec")), split[0].X[30:])


def test_a_loaded_model_refits_like_the_original(split, pls_source, tmp_path):
    model = _fit(pls_source, split, ["source_corrected", "plsr"])
    loaded = load_model(save_model(model, tmp_path / "local.soilspec"))
    local = split[0]
    again = clone(loaded).fit(local.X[:30], local.Y[:30])
    first = clone(model).fit(local.X[:30], local.Y[:30])
    assert np.array_equal(again.predict(local.X[30:]), first.predict(local.X[30:]))


def test_a_plsr_pipeline_round_trips_with_its_metadata_requests(split, tmp_path):
    local, glob = split
    with sklearn.config_context(enable_metadata_routing=True):
        pls = PLSRegressionCV(8, random_state=0).set_fit_request(groups=False)
        pipe = Pipeline([("sg", SavitzkyGolay(deriv=1)), ("pls", pls)])
        pipe = pipe.set_output(transform="pandas").fit(glob.X, glob.Y)
        loaded = load_model(save_model(pipe, tmp_path / "pls.soilspec"))
        assert loaded[-1]._metadata_request.fit.requests == {"groups": False}
    assert np.array_equal(loaded.predict(local.X), pipe.predict(local.X))
    assert [name for name, _ in loaded.steps] == ["sg", "pls"]


def test_a_class_outside_the_allow_list_is_refused_on_saving(split, tmp_path):
    local, glob = split
    model = _fit(Ridge().fit(glob.X, glob.Y), split, ["source_corrected"])
    with pytest.raises(ValueError, match=r"sklearn\.linear_model\._ridge\.Ridge, and model files "
                                         r"hold only allow-listed classes.*joblib"):
        save_model(model, tmp_path / "ridge.soilspec")
    assert not (tmp_path / "ridge.soilspec").exists()


# -- damaged and hostile files ---------------------------------------------------------------

def _rewrite(path, out, metadata=None, files=None, checksums=True):
    """A copy with edited parts; ``checksums=True`` re-signs it as an attacker could."""
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist() if n != "checksums.json"}
        sums = json.loads(zf.read("checksums.json"))
    if metadata is not None:
        parts["metadata.json"] = json.dumps(metadata(json.loads(parts["metadata.json"]))).encode()
    parts.update(files or {})
    parts = {k: v for k, v in parts.items() if v is not None}
    if checksums:
        sums = {k: hashlib.sha256(v).hexdigest() for k, v in parts.items()}
    with zipfile.ZipFile(out, "w") as zf:
        for name, raw in parts.items():
            zf.writestr(name, raw)
        zf.writestr("checksums.json", json.dumps(sums))
    return out


@pytest.fixture(scope="module")
def small_file(split, pls_source, tmp_path_factory):
    model = _fit(pls_source, split, ["source_corrected", "plsr"])
    return save_model(model, tmp_path_factory.mktemp("files") / "local.soilspec")


def _first_array(path):
    with zipfile.ZipFile(path) as zf:
        return sorted(n for n in zf.namelist() if n.startswith("arrays/"))[0]


def test_edited_or_damaged_parts_fail_the_checksums(small_file, tmp_path):
    name = _first_array(small_file)
    with zipfile.ZipFile(small_file) as zf:
        raw = bytearray(zf.read(name))
    raw[-1] ^= 1
    edited = _rewrite(small_file, tmp_path / "a.soilspec", files={name: bytes(raw)},
                      checksums=False)
    with pytest.raises(ValueError, match=f"{name} does not match the checksum"):
        load_model(edited)
    meta = _rewrite(small_file, tmp_path / "m.soilspec", checksums=False,
                    metadata=lambda m: {**m, "description": "edited"})
    with pytest.raises(ValueError, match="metadata.json does not match the checksum"):
        read_metadata(meta)
    for files in ({name: None}, {"arrays/extra.npy": b"x"}):
        odd = _rewrite(small_file, tmp_path / "odd.soilspec", files=files, checksums=False)
        with pytest.raises(ValueError, match="do not match checksums.json"):
            load_model(odd)
    raw = open(small_file, "rb").read()
    cut = tmp_path / "cut.soilspec"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable .* truncated"):
        load_model(cut)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _swap_class(node, old, new):
    if isinstance(node, dict):
        if node.get("__object__") == old:
            node["__object__"] = new
        for v in node.values():
            _swap_class(v, old, new)
    elif isinstance(node, list):
        for v in node:
            _swap_class(v, old, new)
    return node


@pytest.mark.parametrize("evil", ["os.system", "builtins.eval", "subprocess.Popen",
                                  "sklearn_soilspec.transfer._tree._Writer"])
def test_a_file_naming_a_foreign_class_is_refused(small_file, tmp_path, evil):
    def edit(m):
        m["root"] = _swap_class(m["root"], "sklearn_soilspec.baselines.PLSRegressionCV", evil)
        return m

    bad = _rewrite(small_file, tmp_path / "evil.soilspec", metadata=edit)
    with pytest.raises(ValueError, match=f"names the class '{evil}' at .*may not hold"):
        load_model(bad)


def test_pickled_arrays_are_never_unpickled(small_file, tmp_path):
    marker = tmp_path / "ran"
    buf = io.BytesIO()
    np.save(buf, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    bad = _rewrite(small_file, tmp_path / "pickled.soilspec",
                   files={_first_array(small_file): buf.getvalue()})
    with pytest.raises(ValueError, match="is not a plain numeric array"):
        load_model(bad)
    plain = tmp_path / "plain.soilspec"
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not a readable sklearn-soilspec model file"):
        load_model(plain)
    assert not marker.exists()


def test_versions_are_checked(small_file, tmp_path):
    later = _rewrite(small_file, tmp_path / "v4.soilspec",
                     metadata=lambda m: {**m, "format_version": 4})
    with pytest.raises(ValueError, match=r"format version 4; .* reads versions \[1, 2, 3\]: "
                                         "upgrade the package"):
        load_model(later)
    other = _rewrite(small_file, tmp_path / "sk.soilspec", metadata=lambda m: {
        **m, "versions": {**m["versions"], "scikit-learn": "0.1"}})
    with pytest.warns(UserWarning, match="written with scikit-learn 0.1"):
        load_model(other)


def test_a_localised_file_is_not_a_warm_start_source(small_file):
    with pytest.raises(ValueError, match="holds a sklearn_soilspec.localised.LocalisedRegressor, "
                                         "not a network to warm start from"):
        as_source(small_file)


def test_soilspec_predict_reads_a_localised_file_without_allow_pickle(small_file, split, tmp_path,
                                                                       capsys):
    from sklearn_soilspec import cli

    local = split[0]
    spectra = tmp_path / "spectra.csv"
    X = local.X[30:].set_axis([str(c) for c in local.X.columns], axis=1)
    X.assign(sample_id=[f"s{i}" for i in range(len(X))]).to_csv(spectra, index=False)
    out = tmp_path / "pred.csv"
    code = cli.main(["predict", str(small_file), str(spectra), "--id-column", "sample_id",
                     "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    pred = pd.read_csv(out)
    model = load_model(small_file)
    np.testing.assert_allclose(pred[["OC", "clay"]], model.predict(local.X[30:]), rtol=1e-6)
    lower, _ = model.predict_interval(local.X[30:])
    np.testing.assert_allclose(pred[["OC_lower_90", "clay_lower_90"]], lower, rtol=1e-6)


def test_a_parameter_added_since_the_file_was_written_gets_its_default(small_file, tmp_path):
    def older(m):
        del m["root"]["state"]["margin"]
        return m

    loaded = load_model(_rewrite(small_file, tmp_path / "older.soilspec", metadata=older))
    assert loaded.margin == 0.3 and clone(loaded).get_params()["margin"] == 0.3
