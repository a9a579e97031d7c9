"""LUCAS and OSSL loaders on small files written in the documented formats."""

import gzip

import numpy as np
import pandas as pd
import pytest

from sklearn_soilspec.datasets import load_lucas, load_ossl

WL = np.arange(400, 2500, 0.5)  # the 4,200 LUCAS channels


def _absorbance(n, rng):
    # Falls from blue to red like real soil absorbance.
    return (0.9 - 0.3 * (WL - 400) / 2100 + 0.02 * rng.random((n, WL.size))).astype(np.float32)


def _write_2015(folder, rng):
    folder.mkdir()
    spectra = {}
    for cc, points in (("AT", [101, 102]), ("FR", [201, 202, 203])):
        rows = []
        for p in points:
            A = _absorbance(2, rng)  # two replicate scans per point
            spectra[p] = A.mean(axis=0)
            for a in A:
                rows.append([p, cc, *a])
        df = pd.DataFrame(rows, columns=["PointID", "NUTS_0", *[f"{w:g}" for w in WL]])
        df.to_csv(folder / f"spectra_ {cc} .csv", index=False, float_format="%.6f")
    props = pd.DataFrame({
        "Point_ID": [101, 102, 201, 202, 203],
        "NUTS_0": ["AT", "AT", "FR", "FR", "FR"],
        "OC": [12.5, -999, 30.1, "< LOD", 8.0],
        "Clay": [20, 15, -1, 40, 33],
        "pH(H2O)": [6.1, 7.2, 5.5, 8.0, 6.6],
    })  # no CEC in 2015
    props.to_csv(folder / "LUCAS_Topsoil_2015_20200323.csv", index=False)
    return spectra


def test_lucas_2015_folder(tmp_path):
    spectra = _write_2015(tmp_path / "lucas", np.random.default_rng(0))
    lib = load_lucas(tmp_path / "lucas", as_frame=False)
    assert lib.X.shape == (5, 4200) and lib.measurement == "absorbance"
    assert lib.sample_ids.tolist() == ["101", "102", "201", "202", "203"]
    np.testing.assert_allclose(lib.X[2], spectra[201], atol=1e-5)  # replicates averaged
    assert lib.groups.tolist() == ["AT", "AT", "FR", "FR", "FR"]
    Y = pd.DataFrame(lib.Y, columns=lib.target_names)
    assert Y["OC"].isna().tolist() == [False, True, False, True, False]
    assert np.isnan(Y.loc[2, "clay"]) and Y.loc[0, "pH"] == 6.1
    assert Y["CEC"].isna().all()
    assert any("'CEC' not found" in c for c in lib.conversions)
    assert any("replicate" in c for c in lib.conversions)
    assert lib.target_units["OC"] == "g/kg"


def test_lucas_2015_downsample_countries_units(tmp_path):
    _write_2015(tmp_path / "lucas", np.random.default_rng(1))
    lib = load_lucas(tmp_path / "lucas", downsample=10, countries=["FR"], oc_unit="%",
                     properties=("OC",))
    assert lib.X.shape == (3, 210) and set(lib.groups) == {"FR"}
    assert list(lib.X.columns[:2]) == ["400", "410"]
    assert lib.Y["OC"].iloc[0] == pytest.approx(3.01)
    refl = load_lucas(tmp_path / "lucas", downsample=50, measurement="reflectance",
                      as_frame=False)
    assert refl.measurement == "reflectance" and refl.X.max() < 1


def test_lucas_2009_single_export_and_join(tmp_path):
    rng = np.random.default_rng(2)
    A = _absorbance(3, rng)
    spec = pd.DataFrame(A, columns=[f"spc.{w:g}" for w in WL])
    spec.insert(0, "POINT_ID", [11, 12, 13])
    spec.insert(1, "NUTS_0", ["DE", "DE", "PL"])
    both = spec.assign(OC=[10.0, 20.0, -999], CEC=[12.0, 8.0, 5.0], clay=[10, 20, 30],
                       pH_in_H2O=[6.0, 6.5, 7.0])
    f = tmp_path / "lucas2009.csv.gz"
    with gzip.open(f, "wt") as fh:
        both.to_csv(fh, index=False)
    lib = load_lucas(f, as_frame=False)
    assert lib.X.shape == (3, 4200) and lib.groups.tolist() == ["DE", "DE", "PL"]
    np.testing.assert_allclose(lib.Y[:, 1], [12, 8, 5])
    assert np.isnan(lib.Y[2, 0])

    folder = tmp_path / "split"
    folder.mkdir()
    spec.to_csv(folder / "spectra.csv", index=False)
    pd.DataFrame({"POINT_ID": [13, 11, 12], "OC": [5.0, 10.0, 20.0], "CEC": [1, 2, 3],
                  "clay": [1, 2, 3], "pH_in_H2O": [5, 6, 7]}).to_csv(
        folder / "LUCAS_TOPSOIL_v1.csv", index=False)
    lib = load_lucas(folder, year=2009, as_frame=False)
    np.testing.assert_allclose(lib.Y[:, 0], [10, 20, 5])  # joined on POINT_ID


def test_lucas_malformed_files(tmp_path):
    _write_2015(tmp_path / "lucas", np.random.default_rng(3))
    f = tmp_path / "lucas" / "spectra_ AT .csv"
    df = pd.read_csv(f)
    df["1000"] = df["1000"].astype(object)
    df.loc[1, "1000"] = "n/a?"
    df.to_csv(f, index=False)
    # The file's line is named: header, row 0 (line 2), row 1 (line 3).
    with pytest.raises(ValueError,
                       match=r"Spectral column '1000' of .*spectra_ AT \.csv.* 'n/a\?' at line 3"):
        load_lucas(tmp_path / "lucas")
    df.drop(columns=["1000"]).to_csv(f, index=False)
    with pytest.raises(ValueError, match="different wavelength axis"):
        load_lucas(tmp_path / "lucas")
    df.loc[1, "1000"] = 0.5
    df.drop(columns=["PointID"]).to_csv(f, index=False)
    with pytest.raises(ValueError, match=r"spectra_ AT \.csv.* no point id column"):
        load_lucas(tmp_path / "lucas")
    p = tmp_path / "lucas" / "LUCAS_Topsoil_2015_20200323.csv"
    props = pd.read_csv(p)
    props["OC"] = props["OC"].astype(object)
    props.loc[2, "OC"] = "twelve"
    props.to_csv(p, index=False)
    pd.read_csv(tmp_path / "lucas" / "spectra_ FR .csv").to_csv(f, index=False)
    with pytest.raises(ValueError, match=r"Column 'OC' of .*LUCAS_Topsoil_2015.* 'twelve' at row"):
        load_lucas(tmp_path / "lucas")
    props.loc[2, "OC"] = "inf"
    props.to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"Column 'OC' of .*LUCAS_Topsoil_2015.* infinite value"):
        load_lucas(tmp_path / "lucas")
    with pytest.raises(FileNotFoundError):
        load_lucas(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="year must be"):
        load_lucas(tmp_path / "lucas", year=2018)


# -- OSSL --------------------------------------------------------------------

def _write_ossl(folder, rng):
    folder.mkdir()
    ids = ["u1", "u2", "u3", "u4"]
    nm = np.arange(400, 2501, 2)
    R = 0.1 + 0.4 * (nm - 400) / 2100 + 0.01 * rng.random((4, nm.size))
    vis = pd.DataFrame(R, columns=[f"scan_visnir.{w}_ref" for w in nm])
    vis.insert(0, "id.layer_uuid_txt", ids)
    vis.loc[3, vis.columns[1:]] = np.nan  # a MIR-only sample: no vis-NIR scan
    vis.to_csv(folder / "ossl_visnir_L1_v1.2.csv.gz", index=False)
    wn = np.arange(600, 4001, 2)
    mir = pd.DataFrame(0.5 + rng.random((4, wn.size)), columns=[f"scan_mir.{w}_abs" for w in wn])
    mir.insert(0, "id.layer_uuid_txt", ids)
    mir.to_csv(folder / "ossl_mir_L1_v1.2.csv.gz", index=False)
    pd.DataFrame({"id.layer_uuid_txt": ids, "oc_usda.c729_w.pct": [1.2, -1, 3.0, 0.5],
                  "clay.tot_usda.a334_w.pct": [10, 20, np.nan, 5],
                  "ph.h2o_usda.a268_index": [6.0, 7.0, 8.0, 5.0]}).to_csv(
        folder / "ossl_soillab_L1_v1.2.csv", index=False)  # no CEC column
    pd.DataFrame({"id.layer_uuid_txt": ids,
                  "dataset.code_ascii_txt": ["KSSL.SSL", "KSSL.SSL", "LUCAS.SSL", "AFSIS1.SSL"]}
                 ).to_csv(folder / "ossl_soilsite_L0_v1.2.csv", index=False)
    return R


def test_ossl_separate_tables(tmp_path):
    R = _write_ossl(tmp_path / "ossl", np.random.default_rng(0))
    lib = load_ossl(tmp_path / "ossl", as_frame=False)
    assert lib.X.shape == (3, 1051) and lib.unit == "nm"
    np.testing.assert_allclose(lib.X, np.log10(1 / R[:3]), rtol=1e-5)
    assert lib.groups.tolist() == ["KSSL.SSL", "KSSL.SSL", "LUCAS.SSL"]
    Y = pd.DataFrame(lib.Y, columns=lib.target_names)
    assert np.isnan(Y.loc[1, "OC"]) and Y["CEC"].isna().all() and Y.loc[2, "pH"] == 8
    mir = load_ossl(tmp_path / "ossl", spectra="mir", properties=("OC",), downsample=8)
    assert mir.unit == "cm-1" and mir.X.shape[0] == 4 and mir.X.shape[1] < 1701
    assert mir.measurement == "absorbance"


def test_ossl_joined_table_and_errors(tmp_path):
    _write_ossl(tmp_path / "ossl", np.random.default_rng(1))
    parts = [pd.read_csv(tmp_path / "ossl" / f) for f in
             ("ossl_soilsite_L0_v1.2.csv", "ossl_soillab_L1_v1.2.csv",
              "ossl_mir_L1_v1.2.csv.gz")]
    joined = parts[0].merge(parts[1], on="id.layer_uuid_txt").merge(parts[2],
                                                                     on="id.layer_uuid_txt")
    f = tmp_path / "ossl_all_L1_v1.2.csv"
    joined.to_csv(f, index=False)
    lib = load_ossl(f, spectra="mir", measurement="reflectance", as_frame=False)
    assert lib.X.shape == (4, 1701) and lib.X.max() < 1
    with pytest.raises(ValueError, match="No visnir spectra"):
        load_ossl(f, spectra="visnir")
    with pytest.raises(ValueError, match="Groups column 'site' not found"):
        load_ossl(f, spectra="mir", groups="site")
    joined.drop(columns=["id.layer_uuid_txt"]).to_csv(f, index=False)
    with pytest.raises(ValueError, match=r"ossl_all_L1_v1.2.csv.* no 'id.layer_uuid_txt'"):
        load_ossl(f, spectra="mir")
