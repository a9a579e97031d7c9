"""Local rows that are not what they seem: replicate scans (groups), spectra measured otherwise than the source."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GroupKFold, cross_validate

from sklearn_soilspec.datasets import make_spectra
from sklearn_soilspec.localised import LocalisedRegressor
from sklearn_soilspec.localised._combine import folds

MEMBERS = ["plsr", "mean"]


@pytest.fixture(scope="module")
def scans():
    """30 samples scanned three times each (a little instrument noise), lab values shared."""
    lib = make_spectra(30, n_domains=1, wavelengths=range(400, 2500, 20), random_state=3).as_frame()
    rng = np.random.default_rng(0)
    X = pd.concat([lib.X] * 3, ignore_index=True)
    X = X + 1e-3 * rng.standard_normal(X.shape)
    Y = pd.concat([lib.Y] * 3, ignore_index=True)
    groups = np.tile(np.arange(30), 3)
    return X, Y, groups


def _source(X, Y):
    return DummyRegressor().fit(X, Y)


def _plsr_oof(model):
    rep = model.localisation_report_
    return rep[rep.candidate == "plsr"].set_index("property").oof_rmse


def test_grouped_folds_never_split_a_group():
    groups = np.repeat(np.arange(12), 3)
    splits = folds(len(groups), 5, 0, groups)
    assert len(splits) == 5
    for tr, te in splits:
        assert not set(groups[tr]) & set(groups[te])
    with pytest.raises(ValueError, match="needs at least 2"):
        folds(6, 5, 0, np.zeros(6))


def test_replicate_scans_are_warned_about_and_held_out_together_with_groups(scans):
    X, Y, groups = scans
    with pytest.warns(UserWarning, match="replicate scans of one sample, pass"):
        leaky = LocalisedRegressor(_source(X, Y), members=MEMBERS, random_state=0).fit(X, Y)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*replicate scans", category=UserWarning)
        warnings.simplefilter("error", FitFailedWarning)
        held = LocalisedRegressor(_source(X, Y), members=MEMBERS, random_state=0).fit(X, Y, groups=groups)
    # A scan's twins in the training folds flatter the local model: by sample,
    # its out-of-fold error is that of a new sample, and the intervals widen.
    assert (_plsr_oof(held) > 1.5 * _plsr_oof(leaky)).all()
    assert (held.interval_halfwidth_ > leaky.interval_halfwidth_).all()


def test_groups_must_match_the_rows(scans):
    X, Y, groups = scans
    model = LocalisedRegressor(_source(X, Y), members=MEMBERS)
    with pytest.raises(ValueError, match="groups has 10 entries for 90 local rows"):
        model.fit(X, Y, groups=groups[:10])
    with pytest.raises(ValueError, match="groups holds 1 distinct value"):
        model.fit(X, Y, groups=np.zeros(len(X)))


def test_groups_are_routed_by_cross_validate(scans):
    X, Y, groups = scans
    model = LocalisedRegressor(_source(X, Y), members=MEMBERS, cv=3)
    # The splitter and the model both get the ids: no fit warns of replicates.
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*replicate scans", category=UserWarning)
        warnings.simplefilter("error", FitFailedWarning)
        res = cross_validate(model.set_fit_request(groups=True), X, Y, cv=GroupKFold(3),
                             params={"groups": groups}, return_estimator=True)
    assert len(res["estimator"]) == 3 and np.isfinite(res["test_score"]).all()


@pytest.mark.parametrize("kind, site", [("visnir", "CV.98"), ("mir", "NRW.42")])
def test_reflectance_against_an_absorbance_source_is_warned_about(kind, site):
    from sklearn_soilspec.datasets import load_limesoda_spectra
    from sklearn_soilspec.localised import train_source_model

    local, glob = load_limesoda_spectra(kind).as_frame().split_domain(site)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = train_source_model(glob, max_epochs=1, module_params={
            "channels": (4,), "shared_units": (8,), "head_units": 8})
    full = load_limesoda_spectra(kind, sites=[site]).as_frame()
    X, Y = full.X.iloc[:20], full.Y.iloc[:20]
    for spectra, inverted in ((X, False), (10.0 ** -X, True)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            LocalisedRegressor(src, members=["source", "mean"]).fit(spectra, Y)
        said = [str(w.message) for w in caught if "look inverted" in str(w.message)]
        assert bool(said) == inverted, said


def test_fine_spectra_are_modelled_on_the_working_grid():
    # An ASD's 1 nm: the local candidates' derivative windows would span
    # 11 nm; they work on 5 nm, as on data stored at 5 nm.
    from sklearn_soilspec.localised._recipes import working_grid
    from sklearn_soilspec.preprocessing import WavelengthResampler

    assert working_grid(np.arange(400.0, 2500.0, 5.0)) is None
    np.testing.assert_allclose(working_grid(np.arange(350.0, 2501.0))[[0, 1, -1]], [350, 355, 2500])
    cm = working_grid(np.arange(3997.4, 499.0, -1.9285))
    assert cm[0] == pytest.approx(3997.4) and cm[1] - cm[0] == pytest.approx(-4.0)
    lib = make_spectra(60, n_domains=1, wavelengths=np.arange(400.0, 2401.0), random_state=0)
    lib = lib.as_frame()
    coarse = WavelengthResampler(min_step=5.0).set_output(transform="pandas").fit_transform(lib.X)
    reports = []
    for X in (lib.X, coarse):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = LocalisedRegressor(_source(X, lib.Y), members=MEMBERS, random_state=0).fit(X, lib.Y)
        reports.append(m.localisation_report_.set_index(["property", "candidate"]).oof_rmse)
    pd.testing.assert_series_equal(reports[0], reports[1])


def test_rounded_values_shared_by_chance_are_not_taken_for_replicates():
    # Integer clay and pH to a tenth on 1,000 rows: a third of the rows share
    # both values with another row by chance, but their spectra are not each
    # other's nearest, so no replicate warning; true triplicates are warned of.
    from sklearn_soilspec.localised._replicates import warn_if_replicates

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 50))
    Y = np.c_[rng.integers(5, 60, 1000), np.round(rng.uniform(4, 8, 1000), 1)].astype(float)
    _, counts = np.unique(Y, axis=0, return_counts=True)
    assert counts[counts > 1].sum() > 250
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_replicates(X, Y)
    scans = np.vstack([X[:300]] * 3) + 0.01 * rng.normal(size=(900, 50))
    with pytest.warns(UserWarning, match="900 of 900 local rows repeat"):
        warn_if_replicates(scans, np.vstack([Y[:300]] * 3))


def test_a_model_on_the_working_grid_round_trips_through_a_model_file(tmp_path):
    from sklearn.cross_decomposition import PLSRegression

    from sklearn_soilspec.transfer import load_model, save_model

    lib = make_spectra(40, n_domains=1, wavelengths=np.arange(400.0, 2401.0), random_state=1)
    lib = lib.as_frame()
    source = PLSRegression(3).fit(lib.X, lib.Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LocalisedRegressor(source, members=["plsr", "gpr"], cv=3,
                                   random_state=0).fit(lib.X, lib.Y)
    grids = [m.estimators_[0].grid if hasattr(m, "estimators_") else m.grid
             for m in model.members_.values()]
    assert grids and all(g is not None and np.diff(g)[0] == 5.0 for g in grids)
    path = save_model(model, tmp_path / "fine.soilspec", unit="nm", measurement="absorbance")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(lib.X[:5]), model.predict(lib.X[:5]))


def test_verbose_says_each_candidate_as_it_ends_and_what_was_chosen(scans, capsys):
    X, Y, groups = scans
    quiet = LocalisedRegressor(_source(X, Y), members=MEMBERS, random_state=0).fit(
        X, Y, groups=groups)
    assert capsys.readouterr().out == ""
    loud = LocalisedRegressor(_source(X, Y), members=MEMBERS, random_state=0, verbose=1).fit(
        X, Y, groups=groups)
    out = capsys.readouterr().out
    assert "cross-fitting 2 candidates over 5 folds" in out
    assert "[1/2] plsr: 5 folds in" in out and "[2/2] mean: 5 folds in" in out
    for prop in quiet.target_names_:
        assert f"  {prop}: " in out
    pd.testing.assert_frame_equal(quiet.weights_, loud.weights_)


def test_a_source_trained_on_the_local_rows_is_found_by_its_fingerprints(tmp_path):
    # A regional library's global model that saw the farm's samples: its
    # out-of-fold error on them is in-sample. The network keeps fingerprints
    # of its training spectra (through a model file too), so the localised
    # model finds them without being given the library.
    from sklearn_soilspec.localised import train_source_model
    from sklearn_soilspec.transfer import load_model, save_model

    lib = make_spectra(120, n_domains=2, wavelengths=range(400, 2500, 20),
                       random_state=0).as_frame()
    tiny = {"channels": (4,), "shared_units": (8,), "head_units": 8}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inside = train_source_model(lib, max_epochs=1, module_params=tiny)
        apart = train_source_model(lib.subset(np.arange(30, 120)), max_epochs=1,
                                   module_params=tiny)
    path = save_model(inside, tmp_path / "inside.soilspec", unit="nm", measurement="absorbance")
    X, Y = lib.X.iloc[:30], lib.Y.iloc[:30]
    for source, seen in ((inside, 30), (load_model(path), 30), (apart, 0)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = LocalisedRegressor(source, members=["source", "plsr", "mean"], cv=3).fit(X, Y)
        said = [str(w.message) for w in caught if "was trained on" in str(w.message)]
        assert model.n_source_overlap_ == seen == model.source_seen_.sum()
        assert bool(said) == bool(seen)
        if seen:
            assert f"trained on {seen} of the 30 local spectra" in said[0]
            # No library candidate to judge it: the warning says how to give one.
            assert "pass the library it was trained on, library=" in said[0]
    # With the library, MBL judges the source, and the warning says so.
    with pytest.warns(UserWarning, match="measured from the best candidate not built on the "
                                         "source") as caught:
        LocalisedRegressor(inside, library=lib, members=["source", "plsr", "mbl"],
                           cv=3).fit(X, Y)
    assert not any("pass the library" in str(w.message) for w in caught)
    # Without a library candidate, the local ones cannot tell whether the
    # in-sample source's lead is real: weighed alike within 1.5x of the best
    # of all, whatever n (not the 1 + 2 / sqrt(30) = 1.37x of 30 rows).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen_model = LocalisedRegressor(inside, members=["source", "plsr", "mean"], cv=3).fit(X, Y)
    rep = seen_model.localisation_report_
    cands = rep[rep.candidate != "localised"]
    for prop in seen_model.target_names_:
        r = cands[cands.property == prop].set_index("candidate").oof_rmse
        near = r.index[r <= 1.5 * r.min()]
        np.testing.assert_allclose(seen_model.weights_.loc[near, prop], 1.0 / len(near))
        assert (seen_model.weights_.loc[r.index.difference(near), prop] == 0).all()
    # With nothing but the source, no candidate is out of its sight: said.
    with pytest.warns(UserWarning, match="intervals rest on in-sample residuals"):
        LocalisedRegressor(inside, members=["source", "source_corrected"], cv=3).fit(X, Y)


def test_a_per_domain_source_records_the_errors_its_predictions_make():
    # A network standardised per domain trains on each domain's own scaling,
    # which its predictions of new spectra do not know: the training and
    # validation errors it records (and its model file shares) are those of
    # predict on the very rows, not of training.
    from sklearn_soilspec.localised import train_source_model
    from sklearn_soilspec.neural._inputs import validation_rows

    lib = make_spectra(150, n_domains=3, wavelengths=range(400, 2500, 20),
                       random_state=2).as_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = train_source_model(lib, max_epochs=5,
                                    module_params={"channels": (4,), "shared_units": (8,),
                                                   "head_units": 8})
    cnn = source[-1]
    assert cnn.standardize_ == "per_domain"
    errors = cnn.training_summary_["rmse"]
    train, valid = validation_rows(len(lib.X), cnn.validation_fraction, cnn.random_state)
    P, Y = np.asarray(source.predict(lib.X)), lib.Y.to_numpy(float)
    for j, t in enumerate(cnn.target_names_):
        for part, rows in (("training", train), ("validation", valid)):
            np.testing.assert_allclose(errors[part][t],
                                       np.sqrt(np.mean((P[rows, j] - Y[rows, j]) ** 2)),
                                       rtol=1e-4)


def test_no_limesoda_site_is_taken_for_replicate_scans():
    # SSP.460 has 132 rows sharing their rounded values by chance; none of
    # the thirteen sites is a set of replicate scans.
    from sklearn_soilspec.datasets import load_limesoda_spectra
    from sklearn_soilspec.localised._replicates import warn_if_replicates

    for kind in ("visnir", "mir"):
        for site in load_limesoda_spectra(kind).domains:
            full = load_limesoda_spectra(kind, sites=[site])
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                warn_if_replicates(full.X.to_numpy(float), full.Y.to_numpy(float))


def test_a_bad_verbose_is_a_clear_error(scans):
    X, Y, _ = scans
    model = LocalisedRegressor(_source(X, Y), members=MEMBERS, verbose=-1)
    with pytest.raises(ValueError, match="'verbose' parameter of LocalisedRegressor must be"):
        model.fit(X, Y)
