"""LimeSoDa library, the synthetic generator and the generic CSV loader."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.metrics import r2_score

from sklearn_soilspec.datasets import (
    LIMESODA_SITES,
    SpectralLibrary,
    list_limesoda_sites,
    load_limesoda_spectra,
    load_spectral_csv,
    make_spectra,
)

SIZES = {"SSP.460": 460, "SP.231": 231, "SL.125": 125, "UL.120": 120, "CV.98": 98,
         "SC.93": 93, "SSP.58": 58, "MG.44": 44}


@pytest.fixture(scope="module")
def visnir():
    return load_limesoda_spectra()


def test_limesoda_visnir_sites_sizes_grid(visnir):
    assert isinstance(visnir, SpectralLibrary)
    counts = pd.Series(visnir.groups).value_counts().to_dict()
    assert counts == SIZES
    # SP.231 stops at 1700 nm, SSP.58/MG.44 start at 431.6 nm: common range at 5 nm.
    np.testing.assert_allclose(visnir.wavelengths, np.arange(435, 1701, 5))
    assert list(visnir.X.columns[:2]) == ["435", "440"]
    assert visnir.target_names == ["OC", "pH", "clay"]
    assert visnir.sample_ids[0] == "SSP.460:0"
    assert set(np.unique(visnir.folds)) == set(range(1, 11))
    assert np.isfinite(visnir.X.to_numpy()).all()


def test_limesoda_targets_plausible_per_site(visnir):
    Y = visnir.Y.assign(site=visnir.groups)
    for site, part in Y.groupby("site"):
        assert part["OC"].between(0.05, 15).all(), site   # OC in %, Andosols up to ~12
        assert part["clay"].between(0, 100).all(), site
        assert part["pH"].between(3, 10).all(), site
    # Converted sites land in the range of the others, not 10x off.
    assert Y.loc[Y.site == "SSP.58", "OC"].max() < 3
    assert Y.loc[Y.site == "SSP.58", "clay"].max() < 60
    assert any("SOM / 1.724" in c for c in visnir.conversions)
    assert "CaCl2: SSP.58, MG.44" in visnir.target_units["pH"]
    assert "fine-earth density" in visnir.DESCR


def test_limesoda_absorbance_is_log_of_percent_reflectance():
    A = load_limesoda_spectra(sites=["SC.93"], as_frame=False)
    R = load_limesoda_spectra(sites=["SC.93"], measurement="reflectance", as_frame=False)
    np.testing.assert_allclose(A.X, -np.log10(R.X), rtol=1e-4, atol=1e-5)
    assert R.X.max() < 1.0 and A.measurement == "absorbance"


def test_limesoda_mir_grid_and_units():
    mir = load_limesoda_spectra("mir", as_frame=False)
    assert mir.unit == "cm-1"
    assert mir.wavelengths[0] == 3796 and mir.wavelengths[-1] == 752
    assert np.all(np.diff(mir.wavelengths) == -4)
    oc = pd.Series(mir.Y[:, 0]).groupby(mir.groups).max()
    assert oc["NRW.42"] < 2.5  # g/kg -> %
    ph = mir.Y[:, 1]
    # One H.138 sample has pH 2.4 as published; every other pH is 3-10.
    assert ((ph >= 3) & (ph <= 10)).sum() == ph.size - 1


def test_limesoda_opt_out_keeps_stored_units():
    raw = load_limesoda_spectra(sites=["SP.231", "SSP.58"], harmonise=False, as_frame=False)
    assert raw.target_names == ["SOC", "SOM", "pH", "clay"]
    soc, som = raw.Y[:, 0], raw.Y[:, 1]
    assert np.isnan(soc[raw.groups == "SP.231"]).all()
    assert np.nanmax(soc) > 8 and np.nanmax(raw.Y[:, 3]) > 300


def test_limesoda_custom_grid_and_native():
    lib = load_limesoda_spectra(sites=["SL.125", "UL.120"], grid="native", targets="OC",
                                as_frame=False)
    assert lib.X.shape == (245, 2081) and lib.target_names == ["OC"]
    lib = load_limesoda_spectra(sites="SC.93", grid=np.arange(500, 2401, 10))
    assert lib.X.shape == (93, 191)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="xrf"), "kind must be"),
        (dict(sites=["BB.250"]), "Unknown LimeSoDa site"),
        (dict(sites=["H.138"]), "MIR"),
        (dict(targets=("OC", "N")), "targets must be"),
        (dict(measurement="transmittance"), "measurement must be"),
        (dict(grid=np.arange(300, 1000, 5)),
         r"The grid asks for 300-995 nm .*SSP\.460 \(350-2498\)"),
        (dict(grid="native"), "grid='native'"),
    ],
)
def test_limesoda_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_limesoda_spectra(**kwargs)


def test_limesoda_plsr_on_one_site_predicts_oc(visnir):
    site = visnir.subset(visnir.groups == "SSP.460").as_arrays()
    test = site.folds == 1
    y = site.Y[:, 0]
    model = PLSRegression(n_components=8).fit(site.X[~test], y[~test])
    assert r2_score(y[test], model.predict(site.X[test]).ravel()) > 0


def test_list_sites():
    assert list_limesoda_sites() == list(LIMESODA_SITES["visnir"])
    with pytest.raises(ValueError, match="kind must be one of"):
        list_limesoda_sites("vis")


# -- generator -------------------------------------------------------------

def test_make_spectra_deterministic_and_shaped():
    a = make_spectra(n_samples=200, n_domains=4, missing_fraction=0.1, random_state=3)
    b = make_spectra(n_samples=200, n_domains=4, missing_fraction=0.1, random_state=3)
    c = make_spectra(n_samples=200, n_domains=4, random_state=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y, b.Y)
    assert not np.allclose(a.X, c.X)
    assert a.X.dtype == np.float32 and a.X.shape == (200, 1051)
    assert 0.03 < np.isnan(a.Y).mean() < 0.2
    assert len(a.domains) == 4 and a.target_names == ["OC", "clay", "pH"]


def test_make_spectra_lucas_sized_axis():
    wl = np.arange(400, 2500, 0.5)
    lib = make_spectra(n_samples=300, wavelengths=wl, random_state=0)
    assert lib.X.shape == (300, 4200) and np.isfinite(lib.X).all()


def test_make_spectra_bands_follow_targets():
    lib = make_spectra(n_samples=600, n_domains=1, targets=("clay",), noise=0.0,
                       domain_shift=0.0, random_state=0)
    i = np.argmin(np.abs(lib.wavelengths - 2200))
    j = np.argmin(np.abs(lib.wavelengths - 2100))
    assert np.corrcoef(lib.X[:, i] - lib.X[:, j], lib.Y[:, 0])[0, 1] > 0.8


def test_make_spectra_domain_shift_is_visible():
    lib = make_spectra(n_samples=1000, n_domains=5, targets="OC", domain_shift=1.5,
                       random_state=1)
    local, other = lib.split_domain("domain_0")
    rng = np.random.default_rng(0)
    train = rng.random(len(local)) < 0.5
    y = np.log(local.Y[:, 0])
    glob = PLSRegression(n_components=10).fit(other.X, np.log(other.Y[:, 0]))
    loc = PLSRegression(n_components=10).fit(local.X[train], y[train])
    r2_glob = r2_score(y[~train], glob.predict(local.X[~train]).ravel())
    r2_loc = r2_score(y[~train], loc.predict(local.X[~train]).ravel())
    assert r2_loc > r2_glob


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(targets=("N",)), "targets must be"), (dict(n_domains=0), "n_domains"),
     (dict(missing_fraction=1.0), "missing_fraction")],
)
def test_make_spectra_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_spectra(n_samples=10, **kwargs)


# -- generic CSV -------------------------------------------------------------

def _lab_csv(tmp_path, reflectance=True):
    rng = np.random.default_rng(0)
    wl = np.arange(400, 1001, 50)
    R = 0.1 + 0.3 * (wl - 400) / 600 + 0.01 * rng.random((6, wl.size))
    X = R if reflectance else np.log10(1 / R)
    df = pd.DataFrame(X, columns=[f"wl_{w}" for w in wl])
    df.insert(0, "sample", [f"s{i}" for i in range(6)])
    df.insert(1, "field", ["a", "a", "a", "b", "b", "b"])
    df["OC"] = [1.0, 2.0, -999, 1.5, "< LOD", 2.2]
    df["note"] = "x"
    path = tmp_path / "lab.csv"
    df.to_csv(path, index=False)
    return path, X


def test_spectral_csv_reads_and_converts(tmp_path):
    path, R = _lab_csv(tmp_path)
    lib = load_spectral_csv(path, group_column="field", id_column="sample", as_frame=False)
    assert lib.measurement == "reflectance" and lib.target_names == ["OC"]
    assert lib.domains.tolist() == ["a", "b"]
    assert np.isnan(lib.Y[[2, 4], 0]).all() and lib.Y[1, 0] == 2.0
    np.testing.assert_allclose(lib.X, R, rtol=1e-6)
    lib = load_spectral_csv(path, target_columns=["OC"], measurement="reflectance")
    assert list(lib.X.columns[:2]) == ["400", "450"]


def test_spectral_csv_detects_absorbance(tmp_path):
    path, A = _lab_csv(tmp_path, reflectance=False)
    lib = load_spectral_csv(path, as_frame=False)
    assert lib.measurement == "absorbance"


def test_spectral_csv_errors(tmp_path):
    path, _ = _lab_csv(tmp_path)
    with pytest.raises(ValueError, match="group_column='plot' is not a column"):
        load_spectral_csv(path, group_column="plot")
    with pytest.raises(FileNotFoundError, match="No such file"):
        load_spectral_csv(tmp_path / "missing.csv")
    df = pd.read_csv(path)
    df["wl_600"] = df["wl_600"].astype(object)
    df.loc[3, "wl_600"] = "oops"
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"Spectral column 'wl_600' of .*lab.csv.* 'oops'"):
        load_spectral_csv(path)
    df.loc[3, "wl_600"] = np.nan
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match="NaN spectra .* row 3"):
        load_spectral_csv(path)
