"""load_opus and load_asd on real instrument files (tests/data/instruments, see ORIGIN.md)."""

import importlib.util
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_soilspec.datasets import load_asd, load_opus

DATA = Path(__file__).resolve().parent / "data" / "instruments"
OPUS, ASD = DATA / "opus", DATA / "asd"
ALPHA, ALPHA2 = OPUS / "icr056141.0", OPUS / "BF_lo_01_soil_cal.1"
VERTEX, TENSOR = OPUS / "235157XS01.0", OPUS / "test_spectra.0"
LABSPEC, LABSPEC2 = ASD / "235157MD01.asd", ASD / "101453MD01.asd"
FIELDSPEC, HANDHELD = ASD / "44231B009-1-FW300000.asd", ASD / "sample.asd"

needs_opus = pytest.mark.skipif(importlib.util.find_spec("brukeropus") is None,
                                reason="brukeropus not installed (extra 'opus')")
# find_spec, not importorskip: importing pyASDReader outside load_asd writes a log file.
needs_asd = pytest.mark.skipif(importlib.util.find_spec("pyASDReader") is None,
                               reason="pyASDReader not installed (extra 'asd')")


def _copy(tmp_path, pairs):
    """Copy real files under new names into one folder; returns the folder."""
    folder = tmp_path / "scans"
    folder.mkdir(exist_ok=True)
    for src, name in pairs:
        shutil.copyfile(src, folder / name)
    return folder


def _quiet(call, *args, **kwargs):
    """Run a loader and fail on any warning (a clean read says nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


# -- what each instrument's file gives ---------------------------------------------------

@needs_opus
@pytest.mark.parametrize("path, n, first, last, measurement, lo, hi", [
    (ALPHA, 1715, 3996.48, 499.82, "absorbance", 1.156, 2.497),
    (VERTEX, 3578, 7498.04, 599.77, "absorbance", -0.740, 1.503),
    (ALPHA2, 1716, 3997.40, 499.67, "absorbance", 0.104, 1.467),
    (TENSOR, 4819, 7498.29, 599.92, "reflectance", 0.021, 0.586),
], ids=["alpha", "vertex70", "alpha-two-a-blocks", "tensor2-reflectance"])
def test_opus_file_axis_unit_measurement(path, n, first, last, measurement, lo, hi):
    lib = load_opus(path)
    assert lib.unit == "cm-1" and lib.measurement == measurement
    wl = lib.wavelengths
    # MIR axes stay as the file gives them: descending wavenumbers.
    assert wl.size == n and wl[0] > wl[-1]
    assert wl[0] == pytest.approx(first, abs=0.01) and wl[-1] == pytest.approx(last, abs=0.01)
    X = lib.X.to_numpy()
    assert X.shape == (1, n) and X.dtype == np.float32
    assert X.min() == pytest.approx(lo, abs=1e-3) and X.max() == pytest.approx(hi, abs=1e-3)
    assert lib.sample_ids.tolist() == [path.name.rsplit(".", 1)[0]]
    assert lib.target_names == [] and lib.Y.shape == (1, 0)


@needs_opus
def test_opus_several_absorbance_blocks_first_with_a_note():
    lib = _quiet(load_opus, ALPHA2)
    assert any("2 absorbance blocks (a, a_2)" in c for c in lib.conversions)
    second = load_opus(ALPHA2, block="a_2")
    assert not any("blocks" in c for c in second.conversions)
    diff = np.abs(lib.X.to_numpy() - second.X.to_numpy())
    assert 0 < diff.max() < 0.1  # the two blocks differ slightly


@needs_opus
def test_opus_block_choice_errors():
    with pytest.raises(ValueError, match="single-channel sample spectrum"):
        load_opus(ALPHA, block="sm")
    with pytest.warns(UserWarning, match="no block 'a'"):
        lib = load_opus([TENSOR, ALPHA], block="a")
    assert lib.sample_ids.tolist() == ["icr056141"]
    with pytest.raises(ValueError, match="no block 'a'"):
        load_opus(TENSOR, block="a")


@needs_asd
@pytest.mark.parametrize("path, n, first, last, lo, hi, raw", [
    (LABSPEC, 2151, 350, 2500, 0.137, 0.611, True),
    (LABSPEC2, 2151, 350, 2500, 0.086, 0.634, True),
    (FIELDSPEC, 2151, 350, 2500, 0.0878, 0.5168, False),
    (HANDHELD, 751, 325, 1075, -0.039, 0.343, False),
], ids=["labspec-raw", "labspec2-raw", "fieldspec-ref", "handheld-325-1075"])
def test_asd_file_axis_unit_measurement(path, n, first, last, lo, hi, raw):
    lib = _quiet(load_asd, path)
    assert lib.unit == "nm" and lib.measurement == "reflectance"
    assert lib.wavelengths.size == n
    assert (lib.wavelengths[0], lib.wavelengths[-1]) == (first, last)
    X = lib.X.to_numpy()
    assert X.min() == pytest.approx(lo, abs=1e-3) and X.max() == pytest.approx(hi, abs=1e-3)
    assert any("white reference" in c for c in lib.conversions) is raw


@needs_asd
def test_asd_raw_files_refused_on_request():
    with pytest.raises(ValueError, match="raw DN"):
        load_asd(LABSPEC, raw="refuse")
    with pytest.warns(UserWarning, match="1 of 2 ASD files not read"):
        lib = load_asd([LABSPEC, FIELDSPEC], raw="refuse")
    assert lib.sample_ids.tolist() == ["44231B009-1-FW300000"]
    with pytest.raises(ValueError, match="raw must be one of"):
        load_asd(LABSPEC, raw="divide")


@needs_asd
def test_asd_import_writes_no_log_file_and_nothing_to_stderr(tmp_path):
    # pyASDReader opens a log file in the current folder on import and logs
    # errors about version 8 audit sections: neither may reach the user.
    code = ("import sys; from sklearn_soilspec.datasets import load_asd; "
            f"lib = load_asd({str(LABSPEC)!r}); print(lib.X.shape)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "(1, 2151)" in done.stdout
    assert list(tmp_path.iterdir()) == []
    assert "Audit" not in done.stderr and "ERROR" not in done.stderr


# -- paths: one file, a list, a folder, a glob -------------------------------------------

@needs_opus
def test_one_file_a_list_a_folder_and_a_glob(tmp_path):
    one = load_opus(ALPHA)
    listed = load_opus([str(ALPHA), ALPHA2])
    assert listed.sample_ids.tolist() == ["icr056141", "BF_lo_01_soil_cal"]
    np.testing.assert_array_equal(listed.X.to_numpy()[0], one.X.to_numpy()[0])
    folder = _copy(tmp_path, [(ALPHA, "a.0"), (ALPHA2, "b.1")])
    (folder / "lab notes.txt").write_text("not a scan")
    from_folder = load_opus(folder)
    assert from_folder.sample_ids.tolist() == ["a", "b"]
    assert any("1 file in" in c and "lab notes.txt" in c for c in from_folder.conversions)
    globbed = load_opus(str(folder / "*.0"))
    assert globbed.sample_ids.tolist() == ["a"]


@needs_opus
def test_paths_that_name_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file or folder"):
        load_opus(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="No files match"):
        load_opus(str(tmp_path / "*.0"))
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError,
                       match=r"No OPUS files in folder .*1 other file \(readme\.txt\)"):
        load_opus(tmp_path)
    with pytest.raises(ValueError, match="empty list"):
        load_opus([])
    with pytest.warns(UserWarning, match=r"gone\.0 \(missing: no such file\)"):
        lib = load_opus([ALPHA, tmp_path / "gone.0"])
    assert len(lib) == 1 and any("1 of 2 OPUS files not read" in c for c in lib.conversions)


# -- replicates ----------------------------------------------------------------------------

@needs_opus
def test_opus_replicates_averaged_and_counted(tmp_path):
    folder = _copy(tmp_path, [(ALPHA, "soilA.0"), (ALPHA, "soilA.1"), (ALPHA, "soilC_1.0"),
                              (ALPHA, "soilC_2.0"), (ALPHA, "soilC-3.0")])
    lib, scans = _quiet(load_opus, folder, return_scans=True)
    assert lib.sample_ids.tolist() == ["soilA", "soilC"]
    single = load_opus(ALPHA).X.to_numpy()[0]
    np.testing.assert_allclose(lib.X.to_numpy(), np.vstack([single, single]), rtol=1e-6)
    note = [c for c in lib.conversions if c.startswith("Replicate scans averaged")]
    assert note and "5 scans of 2 samples" in note[0] and "soilA (2)" in note[0] \
        and "soilC (3)" in note[0]
    counts = scans.groupby("sample_id")["n_scans"].first().to_dict()
    assert counts == {"soilA": 2, "soilC": 3}
    assert (scans["deviation"] == 0).all()


@needs_asd
def test_asd_replicates_averaged(tmp_path):
    folder = _copy(tmp_path, [(FIELDSPEC, "rock_1.asd"), (FIELDSPEC, "rock_2.asd")])
    lib = _quiet(load_asd, folder)
    assert lib.sample_ids.tolist() == ["rock"]
    np.testing.assert_allclose(lib.X.to_numpy(), load_asd(FIELDSPEC).X.to_numpy(), rtol=1e-6)
    assert any("2 scans of 1 sample" in c for c in lib.conversions)


@needs_opus
def test_replicates_that_disagree_are_flagged(tmp_path):
    # Two different soils under one sample id: a mislabelled file.
    folder = _copy(tmp_path, [(ALPHA, "mix.0"), (ALPHA2, "mix.1"), (ALPHA, "ok.0"),
                              (ALPHA, "ok.1")])
    with pytest.warns(UserWarning, match=r"disagree .* mix \(54%\)"):
        lib = load_opus(folder)
    flagged = [c for c in lib.conversions if "disagree" in c]
    assert len(flagged) == 1 and "mix" in flagged[0] and "ok" not in flagged[0]
    # The second Alpha grid is interpolated onto the first before averaging.
    assert any("1 of 4 scans linearly interpolated" in c for c in lib.conversions)
    a = load_opus(ALPHA).X.to_numpy()[0]
    b = load_opus(ALPHA2, axis=load_opus(ALPHA).wavelengths).X.to_numpy()[0]
    np.testing.assert_allclose(lib.X.to_numpy()[0], (a + b) / 2, rtol=1e-5)
    # Above the deviation the threshold lets them pass.
    _quiet(load_opus, folder, replicate_tolerance=0.6)
    with pytest.raises(ValueError, match="replicate_tolerance must be a positive"):
        load_opus(folder, replicate_tolerance=0)


@needs_asd
def test_asd_replicates_that_disagree_are_flagged(tmp_path):
    folder = _copy(tmp_path, [(LABSPEC, "s_1.asd"), (LABSPEC2, "s_2.asd")])
    with pytest.warns(UserWarning) as record:
        lib = load_asd(folder)
    messages = " | ".join(str(w.message) for w in record)
    assert "disagree" in messages and "s (22%)" in messages
    # Two LabSpecs (serials 4161 and 4139): named as two instruments.
    assert "2 instruments" in messages and "serial 4161" in messages
    assert any("2 raw-DN files" in c for c in lib.conversions)


# -- axes and measurements ---------------------------------------------------------------

@needs_opus
def test_mixed_axes_refused():
    with pytest.raises(ValueError, match=r"Mixed axes: .*235157XS01\.0: 7498\.04 -> 599\.766"):
        load_opus([ALPHA, VERTEX])
    with pytest.raises(ValueError, match="Mixed axes"):
        load_opus([ALPHA], axis=np.arange(4000, 450, -2.0))


@needs_opus
def test_axis_is_the_grid_most_files_share(tmp_path):
    folder = _copy(tmp_path, [(ALPHA2, "a.0"), (ALPHA, "b.0"), (ALPHA, "c.0")])
    lib = _quiet(load_opus, folder)
    np.testing.assert_array_equal(lib.wavelengths, load_opus(ALPHA).wavelengths)
    assert any("1 of 3 scans linearly interpolated onto the axis of b.0" in c and ": a.0." in c
               for c in lib.conversions)
    (folder / "d.0").write_bytes(VERTEX.read_bytes())
    (folder / "e.0").write_bytes(VERTEX.read_bytes())
    (folder / "f.0").write_bytes(VERTEX.read_bytes())
    # Three Vertex scans outnumber the two on one Alpha grid: the Alphas are named.
    with pytest.raises(ValueError, match=r"3 of 6 files cannot be put on the axis of d\.0"):
        load_opus(folder)


@needs_asd
def test_asd_handheld_range_refused_among_full_range():
    with pytest.raises(ValueError, match=r"Mixed axes: .*sample\.asd: 325 -> 1075 nm"):
        load_asd([FIELDSPEC, HANDHELD])
    # Inside the HandHeld range the two can share an axis.
    with pytest.warns(UserWarning, match="HAND_HELD"):
        lib = load_asd([FIELDSPEC, HANDHELD], axis=np.arange(400, 1001, 1.0))
    assert lib.X.shape == (2, 601)


@needs_opus
def test_mixed_measurements_refused_or_converted():
    with pytest.raises(ValueError, match="1 absorbance, 1 reflectance"):
        load_opus([VERTEX, TENSOR])
    with pytest.warns(UserWarning, match="2 instruments"):
        lib = load_opus([VERTEX, TENSOR], measurement="absorbance")
    assert lib.measurement == "absorbance"
    assert any("1 scan: Reflectance -> absorbance" in c for c in lib.conversions)
    R = load_opus(TENSOR, axis=lib.wavelengths).X.to_numpy()[0]
    # Converted on its own grid, then interpolated: equal to interpolation error.
    np.testing.assert_allclose(lib.X.to_numpy()[1], np.log10(1 / R), atol=1e-4)


@needs_asd
def test_asd_to_absorbance_refuses_negative_reflectance():
    lib = load_asd(FIELDSPEC, measurement="absorbance")
    assert lib.measurement == "absorbance"
    with pytest.raises(ValueError, match="<= 0 cannot be converted"):
        load_asd(HANDHELD, measurement="absorbance")


# -- unreadable files ----------------------------------------------------------------------

@needs_opus
def test_unreadable_opus_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = _copy(tmp_path, [(ALPHA, "good.0")])
    (folder / "garbage.0").write_bytes(rng.bytes(4000))
    (folder / "truncated.0").write_bytes(ALPHA.read_bytes()[:20000])
    with pytest.warns(UserWarning, match="2 of 3 OPUS files not read") as record:
        lib = load_opus(folder)
    text = str(record[0].message)
    assert "garbage.0 (not an OPUS file" in text and "truncated.0 (brukeropus cannot" in text
    assert lib.sample_ids.tolist() == ["good"]
    assert any("2 of 3 OPUS files not read" in c for c in lib.conversions)
    with pytest.raises(ValueError, match=r"Cannot read .*garbage\.0.*on_error='warn'"):
        load_opus(folder, on_error="raise")
    with pytest.raises(ValueError, match="None of the 1 files could be read"):
        load_opus(folder / "garbage.0")


@needs_asd
def test_unreadable_asd_files(tmp_path):
    folder = _copy(tmp_path, [(FIELDSPEC, "good.asd")])
    (folder / "garbage.asd").write_bytes(np.random.default_rng(1).bytes(3000))
    (folder / "cut.asd").write_bytes(FIELDSPEC.read_bytes()[:200])
    with pytest.warns(UserWarning, match="2 of 3 ASD files not read") as record:
        lib = load_asd(folder)
    text = str(record[0].message)
    assert "garbage.asd (not an ASD file" in text and "cut.asd (" in text
    assert lib.sample_ids.tolist() == ["good"]


# -- sample ids ----------------------------------------------------------------------------

@needs_opus
def test_sample_id_rules(tmp_path):
    folder = _copy(tmp_path, [(ALPHA, "P01XS01.0"), (ALPHA, "P01XS02.0"), (ALPHA, "P02XS01.0")])
    by_regex = _quiet(load_opus, folder, sample_id=r"^(P\d+)XS")
    assert by_regex.sample_ids.tolist() == ["P01", "P02"]
    by_call = _quiet(load_opus, folder, sample_id=lambda name: name[:3].lower())
    assert by_call.sample_ids.tolist() == ["p01", "p02"]
    assert _quiet(load_opus, folder).sample_ids.tolist() == ["P01XS01", "P01XS02", "P02XS01"]
    with pytest.raises(ValueError, match="needs exactly one"):
        load_opus(folder, sample_id=r"(P)(\d+)")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        load_opus(folder, sample_id=r"(P")
    with pytest.raises(ValueError, match="sample_id must be"):
        load_opus(folder, sample_id=3)
    (folder / "blank.0").write_bytes(ALPHA.read_bytes())
    with pytest.warns(UserWarning, match=r"blank\.0 \(its name does not match"):
        lib = load_opus(folder, sample_id=r"^(P\d+)XS")
    assert len(lib) == 2


# -- the lab table -------------------------------------------------------------------------

def _lab_csv(tmp_path, text):
    path = tmp_path / "lab.csv"
    path.write_text(text)
    return path


@needs_opus
def test_lab_join_reports_both_sides(tmp_path):
    folder = _copy(tmp_path, [(ALPHA, "056141_1.0"), (ALPHA, "056141_2.0"), (ALPHA2, "B.1"),
                              (ALPHA, "C.0")])
    lab = _lab_csv(tmp_path, "sample_id,site,OC,pH,texture\n056141,north,1.2,6.5,loam\n"
                             "B,south,0.8,n.d.,clay\nZ,south,3.0,7.0,sand\n")
    with pytest.warns(UserWarning) as record:
        lib = load_opus(folder, lab=lab, group_column="site")
    messages = [str(w.message) for w in record]
    assert any("1 of 3 scanned samples without a row in" in m and ": C;" in m for m in messages)
    assert any("1 row of" in m and "without a scan: Z" in m for m in messages)
    # Ids are text: the leading zero of 056141 survives on both sides.
    assert lib.sample_ids.tolist() == ["056141", "B", "C"]
    assert lib.target_names == ["OC", "pH"]
    Y = lib.Y.to_numpy()
    np.testing.assert_array_equal(Y[0], [1.2, 6.5])
    assert Y[1, 0] == 0.8 and np.isnan(Y[1, 1]) and np.isnan(Y[2]).all()
    assert lib.groups.tolist() == ["north", "south", "unknown"]
    assert any("'texture' holds no numbers" in c for c in lib.conversions)
    assert sum("without a row" in c or "without a scan" in c for c in lib.conversions) == 2


@needs_opus
def test_lab_as_dataframe_and_columns(tmp_path):
    frame = pd.DataFrame({"id": ["icr056141"], "clay": [31.0], "OC": [2.0]})
    lib = _quiet(load_opus, ALPHA, lab=frame, id_column="id", target_columns=["OC"])
    assert lib.target_names == ["OC"] and lib.Y.to_numpy().tolist() == [[2.0]]
    with pytest.raises(ValueError, match="id_column='sample_id' is not a column"):
        load_opus(ALPHA, lab=frame)
    with pytest.raises(ValueError, match="not property columns"):
        load_opus(ALPHA, lab=frame, id_column="id", target_columns=["CEC"])
    twice = pd.DataFrame({"sample_id": ["icr056141", "icr056141"], "OC": [1.0, 2.0]})
    with pytest.raises(ValueError, match="repeated"):
        load_opus(ALPHA, lab=twice)
    other = pd.DataFrame({"sample_id": ["56141"], "OC": [1.0]})
    with pytest.raises(ValueError, match="None of the 1 sample ids .* sample_id="):
        load_opus(ALPHA, lab=other)
    with pytest.raises(FileNotFoundError, match="No such lab table"):
        load_opus(ALPHA, lab=tmp_path / "none.csv")


@needs_asd
def test_spectra_without_lab_are_ready_for_predict():
    from sklearn.cross_decomposition import PLSRegression

    with pytest.warns(UserWarning, match="2 instruments"):
        lib = load_asd([LABSPEC, LABSPEC2], as_frame=False)
    assert lib.Y.shape == (2, 0) and lib.target_names == []
    rng = np.random.default_rng(0)
    model = PLSRegression(n_components=2).fit(rng.random((10, 2151)), rng.random(10))
    assert model.predict(lib.X).shape[0] == 2


@needs_opus
def test_lab_csv_cells_read_like_the_other_loaders(tmp_path):
    lab = _lab_csv(tmp_path, "sample_id;OC;CaCO3;note\nicr056141;< 0.1;oops;dry\n"
                             "BF_lo_01_soil_cal;-999;2.5;wet\n")
    with pytest.raises(ValueError, match=r"Column 'CaCO3' .* 'oops' at line 2"):
        load_opus([ALPHA, ALPHA2], lab=lab, sep=";")
    with pytest.warns(UserWarning, match="1 non-numeric or infinite cell read as missing"):
        lib = load_opus([ALPHA, ALPHA2], lab=lab, sep=";", bad_values="nan")
    assert lib.target_names == ["OC", "CaCO3"]
    Y = lib.Y.to_numpy()
    assert np.isnan(Y[0]).all() and np.isnan(Y[1, 0]) and Y[1, 1] == 2.5
    assert any("1 sample with a lab row but no value: icr056141" in c for c in lib.conversions)
    assert any("'note' holds no numbers" in c for c in lib.conversions)


def test_missing_reader_library_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "brukeropus", None)
    with pytest.raises(ImportError, match=r"sklearn-soilspec\[opus\]"):
        load_opus(ALPHA)
    monkeypatch.setitem(sys.modules, "pyASDReader", None)
    monkeypatch.setitem(sys.modules, "pyASDReader.asd_file_reader", None)
    with pytest.raises(ImportError, match=r"sklearn-soilspec\[asd\]"):
        load_asd(FIELDSPEC)
