import numpy as np
import pytest

from sklearn_soilspec.preprocessing import (
    check_wavelength_grid,
    format_wavelengths,
    parse_wavelengths,
    resolve_wavelengths,
)


@pytest.mark.parametrize(
    "name, value",
    [
        ("wl_450", 450.0),
        ("450", 450.0),
        ("450.5", 450.5),
        ("scan_visnir.450_ref", 450.0),
        ("scan_mir.600_abs", 600.0),
        ("spc.2499.5", 2499.5),
        ("wn_5397.9", 5397.9),
        (451, 451.0),
    ],
)
def test_parse_wavelengths_reads_common_column_names(name, value):
    assert parse_wavelengths([name])[0] == pytest.approx(value)


def test_parse_wavelengths_names_the_bad_column():
    with pytest.raises(ValueError, match="'ERa'"):
        parse_wavelengths(["wl_450", "ERa"])


def test_format_round_trips_parse():
    wl = np.array([350.0, 352.5, 2499.5, 4000.25])
    assert np.array_equal(parse_wavelengths(format_wavelengths(wl, prefix="wl_")), wl)


def test_resolve_prefers_explicit_axis_and_checks_count():
    wl = resolve_wavelengths([1, 2, 3], feature_names=["a9", "b9", "c9"], n_features=3)
    assert wl.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="Wrong wavelength count"):
        resolve_wavelengths([1, 2], n_features=3)
    with pytest.raises(ValueError, match="spectral axis"):
        resolve_wavelengths(None, None, n_features=3)
    assert resolve_wavelengths(None, None, n_features=3, required=False) is None


def test_check_grid_rejects_unordered_and_sorts_descending():
    wl, order = check_wavelength_grid([4000.0, 3998.0, 3996.0])
    assert wl[order].tolist() == [3996.0, 3998.0, 4000.0]
    with pytest.raises(ValueError, match="strictly"):
        check_wavelength_grid([1.0, 3.0, 2.0])
