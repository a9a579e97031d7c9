"""load_spectral_csv on hostile files: every bad file is a ValueError that says what and where.

Hand-written cases pin the messages; property-based cases (hypothesis) feed
random damaged tables and accept only two outcomes: a library whose columns
are what the header says, or a ValueError with a message. A pandas or numpy
exception escaping is a bug.
"""

import io
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_soilspec import cli
from sklearn_soilspec.datasets import load_spectral_csv

WL = [450, 500, 600, 700, 800]
ROW = "0.9,0.8,0.7,0.6,0.55"  # absorbance, falling across the visible range


def _csv(header, *rows):
    return io.StringIO("\n".join([",".join(header), *rows]) + "\n")


def _spectral(*extra_header):
    return [*extra_header, *map(str, WL)]


# -- the cases a hostile-user test found ---------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("id;OC;450;500;600;700;800\nA;1.2;0.9;0.8;0.7;0.6;0.55\n",
     "separated by semicolons: pass sep=';'"),
    ("id,OC,450,500,500,700,800\nA,1.2,0.9,0.8,0.7,0.6,0.55\n",
     "duplicated column names ['500']"),
    ("OC,450,500,500.0,wl_600,600\n1,0.9,0.8,0.7,0.6,0.55\n",
     "Columns ['500', '500.0'] of '<buffer>' name the same wavelength 500"),
    ("OC,var0,var1,var2\n1,0.9,0.8,0.7\n", "No wavelength columns found"),
    ("OC,clay,450,500,600,700,800\n1.2,x,0.9,0.8,0.7,0.6,0.55\n1,3," + ROW + "\n",
     "Column 'clay' of '<buffer>' holds non-numeric value 'x' at line 2"),
    ("OC,450,500,600,700,800\ninf," + ROW + "\n",
     "Column 'OC' of '<buffer>' holds an infinite value (inf) at line 2"),
    ("OC,450,500,600,700,800\n1,0.9,0.8,0.7,0.6,0.55\n1,inf,0.8,0.7,0.6,0.55\n",
     "Infinite spectra in '<buffer>' (first at row 1, line 3): column '450'"),
    ("OC,450,500,600,700,800\n1,,0.8,0.7,0.6,0.55\n",
     "NaN spectra in '<buffer>' (first at row 0, line 2)"),
    ("OC,450,500,600,700,800\n1,0.9,abc,0.7,0.6,0.55\n",
     "Spectral column '500' of '<buffer>' holds non-numeric value 'abc' at line 2"),
    ("", "is empty"),
    ("OC,450,500,600,700,800\n", "has a header but no samples"),
    ("OC,600,2000,4000\n1,0.9,0.8,0.7\n", "pass unit='cm-1' (soilspec: --unit cm-1)"),
    ("OC,4000cm-1,3000cm-1\n1,0.9,0.8\n", "is in cm-1 but unit='nm'"),
    ("OC,450,500,600,700,800\n0,1," + ROW + "\n1,2," + ROW + "\n",
     "have 7 fields but its header names 6; a column name is missing"),
    ("OC,450,500,600,700,800\n1,0.9,0.8\n", "names 6 columns but the rows have 3 fields"),
])
def test_bad_files_name_the_problem(text, message):
    with pytest.raises(ValueError) as info:
        load_spectral_csv(io.StringIO(text))
    assert message in str(info.value)


def test_spreadsheets_and_other_encodings_are_named(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,Teneur,450,500\n5,1,0.9,0.8\n".replace("Teneur", "Ton\xe9").encode(
        "latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text .*save the file as CSV UTF-8"):
        load_spectral_csv(latin)
    book = tmp_path / "lab.xlsx"
    book.write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="is a spreadsheet, not a CSV file; export it as CSV"):
        load_spectral_csv(book)


def test_a_text_cell_can_be_read_as_missing_with_a_warning():
    text = _csv(_spectral("OC", "clay"), "1.2,x," + ROW, "1.0,3," + ROW, "1.1,?," + ROW)
    with pytest.warns(UserWarning, match=r"Column 'clay' .*: 2 non-numeric or infinite cells "
                                         r"read as missing \(first non-numeric value 'x' at "
                                         r"line 2\)"):
        lib = load_spectral_csv(text, bad_values="nan", as_frame=False)
    assert lib.target_names == ["OC", "clay"]
    np.testing.assert_array_equal(np.isnan(lib.Y[:, 1]), [True, False, True])


def test_missing_tokens_are_not_bad_values():
    text = _csv(_spectral("OC"), "< 0.1," + ROW, "n.d.," + ROW, "," + ROW, "2.5," + ROW)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lib = load_spectral_csv(text, as_frame=False)
    np.testing.assert_array_equal(np.isnan(lib.Y[:, 0]), [True, True, True, False])


def test_id_columns_are_never_targets_and_are_the_sample_ids():
    text = _csv(_spectral("Sample ID", "lab_id", "OC"), "17,5,1.2," + ROW, "18,6,1.3," + ROW)
    lib = load_spectral_csv(text, as_frame=False)
    assert lib.target_names == ["OC"]
    assert lib.sample_ids.tolist() == ["17", "18"]


def test_only_wavelength_headers_are_spectra():
    header = _spectral("sand_2000um", "depth10", "OC")
    lib = load_spectral_csv(_csv(header, "30,10,1.2," + ROW), as_frame=False)
    assert lib.wavelengths.tolist() == WL
    assert lib.target_names == ["sand_2000um", "depth10", "OC"]


def test_trailing_separators_and_unnamed_index_columns():
    # Excel's trailing separators, and the unnamed index DataFrame.to_csv writes.
    lib = load_spectral_csv(io.StringIO("OC,450,500,600,700,800,\n1," + ROW + ",\n"))
    assert lib.target_names == ["OC"] and lib.X.shape == (1, 5)
    lib = load_spectral_csv(io.StringIO(",OC,450,500,600,700,800\n7,1," + ROW + "\n"),
                            as_frame=False)
    assert lib.target_names == ["OC"] and lib.sample_ids.tolist() == ["7"]
    lib = load_spectral_csv(io.StringIO("OC,,450,500,600,700,800\n1,5," + ROW + "\n"))
    assert lib.target_names == ["OC"]
    assert any("'Unnamed: 1' has no name" in c for c in lib.conversions)


def test_a_text_only_column_is_metadata_and_noted():
    lib = load_spectral_csv(_csv(_spectral("texture", "OC"), "loam,1.2," + ROW))
    assert lib.target_names == ["OC"]
    assert any("'texture' holds no numbers" in c for c in lib.conversions)


def test_unit_suffixes_and_prefixes_name_wavelengths():
    header = ["OC", "wl_450", "500nm", "X600", "spc.700", "scan_visnir.800_ref"]
    lib = load_spectral_csv(_csv(header, "1.2," + ROW), as_frame=False)
    assert lib.wavelengths.tolist() == WL
    mir = load_spectral_csv(_csv(["OC", "4000 cm-1", "wn_3000", "2000"], "1,0.2,0.3,0.4"),
                            unit="cm-1", measurement="absorbance", as_frame=False)
    assert mir.wavelengths.tolist() == [4000, 3000, 2000]
    assert (mir.unit, mir.measurement) == ("cm-1", "absorbance")


def test_semicolon_files_with_decimal_commas():
    text = io.StringIO("id;OC;450;500;600;700;800\nA;1,2;0,9;0,8;0,7;0,6;0,55\n")
    lib = load_spectral_csv(text, sep=";", decimal=",", as_frame=False)
    assert lib.Y[0, 0] == pytest.approx(1.2) and lib.X[0, 0] == pytest.approx(0.9)


def test_mir_needs_the_measurement():
    with pytest.raises(ValueError, match="state what the MIR spectra are .* --measurement"):
        load_spectral_csv(_csv(["OC", "4000", "3000"], "1,0.2,0.3"), unit="cm-1")


# -- random damage (hypothesis) ------------------------------------------------------
_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["", "n.d.", "< 0.1", "abc", "1,5", "inf", "-inf", "NaN", "TRUE", " ",
                     "0x10", "1e400", "--", '"', "1;2"]),
    st.text(max_size=4),
)
_HEADERS = st.one_of(
    st.sampled_from(["450", "500", "600", "700", "800", "OC", "clay", "id", "sample",
                     "var0", "sand_2000um", "500nm", "wl_600", "4000", "", "Unnamed: 0",
                     "500.1", "OC"]),
    st.text(max_size=6),
)


def _to_text(header, rows):
    frame = pd.DataFrame(rows, columns=range(len(header)), dtype=object)
    body = frame.to_csv(index=False, header=False)
    head = ",".join('"' + h.replace('"', '""') + '"' for h in header)
    return head + "\n" + body


@st.composite
def _tables(draw):
    header = draw(st.lists(_HEADERS, min_size=0, max_size=8))
    n_rows = draw(st.integers(0, 4))
    rows = [[draw(_CELLS) for _ in header] for _ in range(n_rows)]
    return _to_text(header, rows) if header else draw(st.sampled_from(["", "\n", "\n\n"]))


def _check(text, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lib = load_spectral_csv(io.StringIO(text), as_frame=False, **kwargs)
    except ValueError as exc:
        assert str(exc).strip(), "a ValueError needs a message"
        assert not str(exc).startswith(("could not convert", "at least one array")), str(exc)
        return None
    # Loaded: the spectra are finite and every property came from the header.
    assert np.isfinite(lib.X).all()
    assert len(lib.wavelengths) == lib.X.shape[1] >= 2
    assert not np.isinf(lib.Y).any()
    return lib


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(), st.sampled_from(["raise", "nan"]))
def test_random_bad_tables_load_or_raise_a_value_error(text, bad_values):
    _check(text, bad_values=bad_values)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), _CELLS), min_size=1, max_size=6),
       st.sampled_from(["raise", "nan"]))
def test_damaged_cells_in_a_good_table(damage, bad_values):
    header = _spectral("id", "OC", "clay")
    rows = [[f"s{i}", 1.0 + i, 20 + i, 0.9, 0.8, 0.7, 0.6, 0.55] for i in range(3)]
    for col, cell in damage:
        rows[col % 3][1 + col % 7] = cell
    lib = _check(_to_text(header, rows), bad_values=bad_values)
    if lib is not None:
        assert lib.sample_ids.tolist() == ["s0", "s1", "s2"]
        assert set(lib.target_names) <= {"OC", "clay"}
        # A property that is not read is never dropped silently.
        for dropped in {"OC", "clay"} - set(lib.target_names):
            assert any(repr(dropped) in note for note in lib.conversions), lib.conversions


@settings(max_examples=60, deadline=None)
@given(st.lists(_HEADERS, min_size=1, max_size=6))
def test_random_headers(extra):
    header = [*extra, *map(str, WL)]
    rows = [["1"] * len(extra) + ROW.split(",")]
    lib = _check(_to_text(header, rows))
    if lib is not None:
        named = [h.strip() for h in header if h.strip()]  # unnamed ones are told apart
        assert len(set(named)) == len(named), "duplicates must be refused"
        if "sand_2000um" in extra:
            assert 2000.0 not in lib.wavelengths
        if "var0" in extra:
            assert 0.0 not in lib.wavelengths


# -- through the command line --------------------------------------------------------
def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr()


def test_cli_csv_without_properties_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "spectra.csv"
    path.write_text(",".join(_spectral("id")) + "\nA," + ROW + "\nB," + ROW + "\n")
    code, io_ = _run(["train-global", "--data", "csv", "--path", path,
                      "--out", tmp_path / "m.soilspec"], capsys)
    assert code == 2
    assert "no property columns found" in io_.err and "--targets" in io_.err
    assert "at least one array" not in io_.err


def test_cli_semicolon_hint_and_csv_options_only_for_csv(tmp_path, capsys):
    path = tmp_path / "semi.csv"
    path.write_text("id;OC;450;500;600;700;800\nA;1,2;0,9;0,8;0,7;0,6;0,55\n")
    code, io_ = _run(["train-global", "--data", "csv", "--path", path,
                      "--out", tmp_path / "m.soilspec"], capsys)
    assert code == 2 and "--sep ';'" in io_.err
    code, io_ = _run(["train-global", "--unit", "cm-1", "--out", tmp_path / "m.soilspec"],
                     capsys)
    assert code == 2 and "--unit: not for --data limesoda-visnir" in io_.err


def test_cli_reads_mir_csvs_with_unit_and_measurement(tmp_path, capsys):
    import joblib
    from sklearn.linear_model import Ridge

    wn = [str(w) for w in range(4000, 590, -200)]
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((12, len(wn))), columns=wn)
    model = tmp_path / "mir.joblib"
    joblib.dump(Ridge().fit(X, X.sum(axis=1)), model)
    path = tmp_path / "mir.csv"
    X.insert(0, "sample_id", [f"m{i}" for i in range(12)])
    X.to_csv(path, index=False)
    out = tmp_path / "pred.csv"
    code, io_ = _run(["predict", model, path, "--out", out, "--allow-pickle"], capsys)
    assert code == 2 and "pass unit='cm-1' (soilspec: --unit cm-1)" in io_.err
    code, io_ = _run(["predict", model, path, "--out", out, "--allow-pickle", "--unit", "cm-1"],
                     capsys)
    assert code == 2 and "--measurement" in io_.err
    code, io_ = _run(["predict", model, path, "--out", out, "--allow-pickle", "--unit", "cm-1",
                      "--measurement", "absorbance"], capsys)
    assert code == 0, io_.err
    assert pd.read_csv(out)["sample_id"].tolist()[:2] == ["m0", "m1"]


def test_cli_model_without_wavelengths_hints_at_resampling(tmp_path, capsys):
    import joblib
    from sklearn.linear_model import Ridge

    model = tmp_path / "plain.joblib"
    joblib.dump(Ridge().fit(np.ones((4, 3)), np.arange(4.0)), model)
    path = tmp_path / "spectra.csv"
    path.write_text(",".join(_spectral("id")) + "\nA," + ROW + "\n")
    code, io_ = _run(["predict", model, path, "--out", tmp_path / "p.csv", "--allow-pickle"],
                     capsys)
    assert code == 2
    assert "expects 3 spectral points but the CSV has 5" in io_.err
    assert "WavelengthResampler" in io_.err


def test_cli_bad_values_nan_warns_in_one_line(tmp_path, capsys):
    wl = np.arange(400, 2400, 20)
    spectrum = ",".join(f"{a:.4f}" for a in 0.9 - 0.2 * (wl - 400) / 2000)
    path = tmp_path / "lab.csv"
    rows = [f"s{i},{1 + i / 10},{'x' if i == 0 else 20 + i},{spectrum}" for i in range(12)]
    path.write_text(",".join(["id", "OC", "clay", *map(str, wl)]) + "\n" + "\n".join(rows))
    out = tmp_path / "m.soilspec"
    argv = ["train-global", "--data", "csv", "--path", path, "--out", out, "--epochs", "1",
            "--quiet"]
    code, io_ = _run(argv, capsys)
    assert code == 2 and "holds non-numeric value 'x' at line 2" in io_.err
    assert not out.exists()
    code, io_ = _run([*argv, "--bad-values", "nan"], capsys)
    assert code == 0, io_.err
    assert ("soilspec: warning: Column 'clay' of " in io_.err
            and "1 non-numeric or infinite cell read as missing" in io_.err)
    assert out.is_file()
