"""Spectral transformers on real LimeSoDa spectra: shapes, axes, identities, errors."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from LimeSoDa import load_dataset
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_soilspec.preprocessing import (
    MSC,
    SNV,
    Absorbance,
    Binning,
    ContinuumRemoval,
    Detrend,
    SavitzkyGolay,
    SpectralTrim,
    Spectrogram,
    WavelengthResampler,
    parse_wavelengths,
)

_CACHE = {}


def _site(name):
    """Spectra (% reflectance, DataFrame with wl_ columns), targets and folds."""
    if name not in _CACHE:
        data = load_dataset(name)
        df = data["Dataset"]
        spectra = df[[c for c in df.columns if c.startswith("wl_")]]
        _CACHE[name] = (spectra, df, np.asarray(data["Folds"]))
    return _CACHE[name]


@pytest.fixture
def ssp():  # 460 spectra, 350-2498 nm, unevenly spaced (1-5 nm)
    return _site("SSP.460")[0]


@pytest.fixture
def sp():  # 231 spectra, 350-1700 nm every 5 nm
    return _site("SP.231")[0]


@pytest.fixture
def sl():  # 125 spectra, 420-2500 nm every 1 nm
    return _site("SL.125")[0]


# --- identities on real spectra -------------------------------------------------


def test_snv_rows_have_mean_0_std_1(ssp):
    out = SNV().fit_transform(ssp)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=1), 1.0, rtol=1e-10)


def test_absorbance_then_inverse_returns_the_input(ssp):
    ab = Absorbance().fit(ssp)
    assert ab.percent_  # LimeSoDa stores % reflectance
    A = ab.transform(ssp)
    np.testing.assert_allclose(A, np.log10(100.0 / ssp.to_numpy()), rtol=1e-12)
    np.testing.assert_allclose(ab.inverse_transform(A), ssp.to_numpy(), rtol=1e-10)
    # The same spectra as fractions give the same absorbance.
    np.testing.assert_allclose(Absorbance().fit_transform(ssp / 100.0), A, rtol=1e-10)
    back = Absorbance(inverse=True, percent=True).fit_transform(A)
    np.testing.assert_allclose(back, ssp.to_numpy(), rtol=1e-10)


def test_resampling_onto_the_same_grid_is_the_identity(sl, ssp):
    wl = parse_wavelengths(sl.columns)
    for kind in ("linear", "cubic"):
        out = WavelengthResampler(target=wl, kind=kind).fit_transform(sl)
        np.testing.assert_array_equal(out, sl.to_numpy())
    # target=None on an evenly spaced axis keeps it.
    rs = WavelengthResampler().fit(sl)
    np.testing.assert_array_equal(rs.target_wavelengths_, wl)
    np.testing.assert_array_equal(rs.get_feature_names_out(), sl.columns)
    # ... and regularises an uneven one, hitting the measured points exactly.
    rs = WavelengthResampler().fit(ssp)
    assert np.ptp(np.diff(rs.target_wavelengths_)) < 1e-9
    out = rs.transform(ssp)
    ssp_wl = parse_wavelengths(ssp.columns)
    common = np.isin(rs.target_wavelengths_, ssp_wl)
    np.testing.assert_allclose(
        out[:, common], ssp.to_numpy()[:, np.isin(ssp_wl, rs.target_wavelengths_)]
    )


def test_resampler_pools_two_instruments_onto_one_grid(sp, sl):
    grid = (420, 1700, 5)
    a = WavelengthResampler(target=grid).fit(sp)
    b = WavelengthResampler(target=grid).fit(sl)
    Xa, Xb = a.transform(sp), b.transform(sl)
    assert Xa.shape == (231, 257) and Xb.shape == (125, 257)
    assert a.get_feature_names_out().tolist() == b.get_feature_names_out().tolist()
    assert a.get_feature_names_out()[[0, -1]].tolist() == ["wl_420", "wl_1700"]
    # Grid points that were measured keep their value exactly.
    np.testing.assert_array_equal(Xb, sl[[f"wl_{w}" for w in range(420, 1701, 5)]].to_numpy())


def test_min_step_coarsens_a_fine_axis_onto_multiples_of_the_step(sl, sp):
    # SL.125 is measured every 1 nm from 420 to 2500.
    rs = WavelengthResampler(min_step=5).fit(sl)
    np.testing.assert_array_equal(rs.target_wavelengths_, np.arange(420.0, 2501.0, 5.0))
    # The grid points were measured, so their values are kept exactly.
    np.testing.assert_array_equal(
        rs.transform(sl), sl[[f"wl_{w}" for w in range(420, 2501, 5)]].to_numpy())
    assert rs.get_feature_names_out()[[0, -1]].tolist() == ["wl_420", "wl_2500"]
    # A step already coarser than min_step is the input's own, as without it.
    for min_step in (2, 5):
        a = WavelengthResampler(min_step=min_step).fit(sp)  # 5 nm steps
        np.testing.assert_array_equal(a.target_wavelengths_,
                                      WavelengthResampler().fit(sp).target_wavelengths_)
    # Ends off the multiples are cut inside the measured range.
    wl = np.arange(401.3, 430.0, 0.5)
    rs = WavelengthResampler(min_step=5, wavelengths=wl).fit(np.ones((1, wl.size)))
    np.testing.assert_array_equal(rs.target_wavelengths_, [405.0, 410.0, 415.0, 420.0, 425.0])


def test_min_step_on_a_descending_wavenumber_axis():
    # A Bruker Alpha MIR axis: 1,715 points, 3996.48 -> 499.82 cm-1 (about 2.04 cm-1).
    wn = np.linspace(3996.48, 499.82, 1715)
    X = np.random.default_rng(0).random((3, wn.size))
    rs = WavelengthResampler(min_step=4, wavelengths=wn).fit(X)
    np.testing.assert_allclose(rs.target_wavelengths_, np.arange(3996.0, 499.0, -4.0))
    out = rs.transform(X)
    expected = [np.interp(rs.target_wavelengths_, wn[::-1], row[::-1]) for row in X]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # min_step below the axis's own step changes nothing.
    fine = WavelengthResampler(min_step=1, wavelengths=wn).fit(X)
    np.testing.assert_array_equal(fine.target_wavelengths_,
                                  WavelengthResampler(wavelengths=wn).fit(X).target_wavelengths_)


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(min_step=0), InvalidParameterError, "min_step"),
        (dict(min_step=-5), InvalidParameterError, "min_step"),
        (dict(min_step="5"), InvalidParameterError, "min_step"),
        (dict(min_step=5, target=(420, 500, 5)), ValueError, "not both"),
        (dict(min_step=5000), ValueError, "min_step=5000 is too coarse"),
    ],
)
def test_bad_min_step_is_an_error(sl, params, error, match):
    with pytest.raises(error, match=match):
        WavelengthResampler(**params).fit(sl)


def test_sg_derivative_of_a_linear_ramp_is_constant_per_nm(sp):
    wl = parse_wavelengths(sp.columns)  # 5 nm steps
    ramp = pd.DataFrame(0.02 * wl[None, :] + np.arange(3.0)[:, None], columns=sp.columns)
    sg = SavitzkyGolay(window_length=11, polyorder=2, deriv=1).fit(ramp)
    assert sg.delta_ == 5.0
    np.testing.assert_allclose(sg.transform(ramp), 0.02, rtol=1e-9)
    # Per nm: the derivative per point divided by the step.
    per_point = SavitzkyGolay(deriv=1, delta=1.0).fit_transform(sp)
    np.testing.assert_allclose(sg.transform(sp), per_point / 5.0, rtol=1e-9, atol=1e-12)


def test_sg_derivative_on_a_descending_wavenumber_axis_is_per_increasing_wavenumber():
    wn = np.arange(4000.0, 3900.0, -2.0)
    X = pd.DataFrame(0.5 * wn[None, :], columns=[f"wn_{w:g}" for w in wn])
    np.testing.assert_allclose(SavitzkyGolay(deriv=1).fit_transform(X), 0.5, rtol=1e-9)


def test_spectrogram_shape_matches_the_formula(sl, sp):
    for spectra in (sl, sp):
        n = spectra.shape[1]
        sg = Spectrogram().fit(spectra)
        n_freq, n_time = 100 // 2 + 1, 1 + (n - 100) // (100 - 50)
        assert sg.image_shape_ == (n_freq, n_time)
        flat = sg.transform(spectra)
        assert flat.shape == (spectra.shape[0], n_freq * n_time)
        names = sg.get_feature_names_out()
        assert names[[0, 1, n_time]].tolist() == ["f0_t0", "f0_t1", "f1_t0"]
        images = Spectrogram(flatten=False).fit_transform(spectra)
        assert images.shape == (spectra.shape[0], n_freq, n_time)
        np.testing.assert_array_equal(images.reshape(len(spectra), -1), flat)
    assert Spectrogram().fit(sp).image_shape_ == (51, 4)  # 271 points at 5 nm


def test_spectrogram_is_the_log_power_of_each_window():
    from scipy.signal import spectrogram

    x = np.random.default_rng(1).normal(size=(2, 64))
    out = Spectrogram(nperseg=16, noverlap=8, flatten=False).fit_transform(x)
    _, _, p = spectrogram(x[1], window="hann", nperseg=16, noverlap=8)
    np.testing.assert_allclose(out[1], np.log(p + 1e-10), rtol=1e-10)


def test_continuum_removal_is_one_on_the_hull(sl):
    out = ContinuumRemoval().fit_transform(sl)
    assert out.shape == sl.shape
    assert np.all(out > 0) and np.all(out <= 1.0 + 1e-12)
    np.testing.assert_allclose(out[:, [0, -1]], 1.0)  # the ends are hull vertices
    np.testing.assert_allclose(out.max(axis=1), 1.0)
    A = Absorbance().fit_transform(sl)
    depth = ContinuumRemoval(measurement="absorbance").fit_transform(
        pd.DataFrame(A, columns=sl.columns)
    )
    assert np.all(depth >= -1e-12)
    np.testing.assert_allclose(depth[:, [0, -1]], 0.0, atol=1e-12)


def test_continuum_removal_matches_a_hand_made_hull():
    x = np.array([400.0, 410, 420, 430, 440])
    y = np.array([[0.2, 0.1, 0.4, 0.3, 0.4]])
    hull = np.array([0.2, 0.3, 0.4, 0.4, 0.4])
    np.testing.assert_allclose(ContinuumRemoval(wavelengths=x).fit_transform(y), y / hull)


def test_detrend_removes_an_added_polynomial_baseline(sl):
    x = parse_wavelengths(sl.columns)
    baseline = 3.0 - 2e-3 * x + 1e-6 * x**2
    dt = Detrend(order=2).fit(sl)
    np.testing.assert_allclose(dt.transform(sl + baseline), dt.transform(sl), atol=1e-8)
    out = dt.transform(sl)
    coef = np.polynomial.polynomial.polyfit(x, out.T, 2)
    np.testing.assert_allclose(coef, 0.0, atol=1e-8)


def test_msc_removes_offset_and_multiplicative_scatter(ssp):
    msc = MSC().fit(ssp)
    np.testing.assert_allclose(msc.reference_, ssp.to_numpy().mean(axis=0))
    np.testing.assert_allclose(msc.transform(2.5 * ssp + 3.0), msc.transform(ssp), rtol=1e-9)
    ref_rows = pd.DataFrame(
        0.7 * msc.reference_[None, :] + np.array([[0.0], [1.0]]), columns=ssp.columns
    )
    np.testing.assert_allclose(msc.transform(ref_rows), msc.reference_[None, :].repeat(2, 0))


def test_binning_and_trim_change_the_axis_and_its_names(sl):
    b = Binning(bin_size=5).fit(sl)
    out = b.transform(sl)
    assert out.shape == (125, 417)  # 2081 = 416 * 5 + 1
    np.testing.assert_allclose(out[:, 0], sl.iloc[:, :5].mean(axis=1))
    assert b.get_feature_names_out()[[0, -1]].tolist() == ["wl_422", "wl_2500"]
    t = SpectralTrim(start=500, stop=2450).fit(sl)
    assert t.transform(sl).shape == (125, 1951)
    assert t.get_feature_names_out()[[0, -1]].tolist() == ["wl_500", "wl_2450"]


def test_names_keep_the_input_style():
    X = pd.DataFrame(
        np.ones((2, 4)), columns=[f"scan_visnir.{w}_ref" for w in (400, 402, 404, 406)]
    )
    names = SpectralTrim(stop=403).fit(X).get_feature_names_out().tolist()
    assert names == ["scan_visnir.400_ref", "scan_visnir.402_ref"]
    assert WavelengthResampler(target=[401.0], wavelengths=[400, 402, 404, 406]).fit(
        np.ones((1, 4))
    ).get_feature_names_out().tolist() == ["401"]


def test_trim_works_on_a_descending_wavenumber_axis():
    wn = np.arange(4000.0, 3980.0, -2.0)
    X = np.tile(wn, (2, 1))
    out = SpectralTrim(start=3990, stop=3996, wavelengths=wn).fit_transform(X)
    np.testing.assert_array_equal(out[0], [3996.0, 3994.0, 3992.0, 3990.0])


# --- pipelines, pandas, dtypes, statelessness ---------------------------------------

ALL = [
    Absorbance(),
    WavelengthResampler(target=(500, 2400, 4)),
    SpectralTrim(start=500, stop=2400),
    Binning(bin_size=4),
    SNV(),
    MSC(),
    SavitzkyGolay(deriv=1),
    Detrend(),
    ContinuumRemoval(),
    Spectrogram(),
]


@pytest.mark.parametrize("transformer", ALL, ids=lambda t: type(t).__name__)
def test_pandas_output_float32_and_names(transformer, sl):
    tr = clone(transformer).set_output(transform="pandas")
    out = tr.fit_transform(sl)
    assert isinstance(out, pd.DataFrame)
    assert out.columns.tolist() == tr.get_feature_names_out().tolist()
    assert out.index.equals(sl.index)
    assert np.isfinite(out.to_numpy()).all()
    sl32 = sl.astype(np.float32)
    out32 = clone(transformer).fit_transform(sl32)
    assert out32.dtype == np.float32
    # Against float64 on the same (rounded) values: float32 input rounding is
    # not the transformer's doing.
    expected = clone(transformer).fit_transform(sl32.astype(np.float64))
    np.testing.assert_allclose(out32, expected, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize(
    "transformer",
    [SNV(), SavitzkyGolay(deriv=1), Detrend(), ContinuumRemoval(), Spectrogram(), Absorbance()],
    ids=lambda t: type(t).__name__,
)
def test_stateless_transformers_treat_new_data_as_if_fitted_on_it(transformer, sl):
    fitted_on_global = clone(transformer).fit(sl.iloc[:60])
    local = sl.iloc[60:]
    np.testing.assert_array_equal(
        fitted_on_global.transform(local), clone(transformer).fit_transform(local)
    )


def test_sg_derivative_pls_pipeline_predicts_soc_on_a_held_out_fold():
    spectra, df, folds = _site("SSP.460")
    y = df["SOC_target"].to_numpy()
    pipe = make_pipeline(
        Absorbance(),
        WavelengthResampler(target=(400, 2450, 2)),  # SSP.460 is unevenly spaced
        SavitzkyGolay(window_length=11, deriv=1),
        PLSRegression(n_components=8),
    ).set_output(transform="pandas")
    train, test = folds != 2, folds == 2
    pipe.fit(spectra[train], y[train])
    assert r2_score(y[test], pipe.predict(spectra[test]).ravel()) > 0


# --- property tests ----------------------------------------------------------------


@st.composite
def smooth_spectra(draw):
    """A few smooth spectra (sums of broad sines) on a random regular grid."""
    n = draw(st.integers(20, 120))
    start = draw(st.floats(350, 1000))
    step = draw(st.sampled_from([0.5, 1.0, 2.0, 5.0]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    wl = start + step * np.arange(n)
    t = (wl - wl[0]) / (wl[-1] - wl[0])
    freq = rng.uniform(0.2, 2.0, size=(3, 1, 1))
    amp = rng.uniform(0.1, 1.0, size=(3, 4, 1))
    X = 2.0 + (amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6, (3, 4, 1)))).sum(axis=0)
    return wl, X


@settings(max_examples=25, deadline=None)
@given(data=smooth_spectra(), frac=st.floats(0.05, 0.95))
def test_resampler_properties(data, frac):
    wl, X = data
    # Linear interpolation stays between its neighbours ...
    target = wl[0] + frac * (wl[1:] - wl[0])
    out = WavelengthResampler(target=target, wavelengths=wl).fit_transform(X)
    assert np.all(out >= X.min(axis=1, keepdims=True) - 1e-12)
    assert np.all(out <= X.max(axis=1, keepdims=True) + 1e-12)
    # ... is exact for a straight line ...
    line = 3.0 + 0.01 * wl[None, :]
    np.testing.assert_allclose(
        WavelengthResampler(target=target, wavelengths=wl).fit_transform(line),
        3.0 + 0.01 * target[None, :],
    )
    # ... and a sub-grid of the measured points is picked exactly.
    sub = WavelengthResampler(target=wl[::3], kind="cubic", wavelengths=wl).fit_transform(X)
    np.testing.assert_allclose(sub, X[:, ::3], rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(data=smooth_spectra(), scale=st.floats(0.1, 10), offset=st.floats(-5, 5))
def test_snv_and_msc_undo_affine_scatter(data, scale, offset):
    wl, X = data
    snv = SNV().fit(X)
    np.testing.assert_allclose(snv.transform(scale * X + offset), snv.transform(X), atol=1e-8)
    msc = MSC().fit(X)
    np.testing.assert_allclose(
        msc.transform(scale * X + offset), msc.transform(X), rtol=1e-8, atol=1e-8
    )
    np.testing.assert_allclose(msc.transform(msc.reference_[None, :]), msc.reference_[None, :])


# --- bad input: one test per error ---------------------------------------------------


@pytest.mark.parametrize("transformer", ALL, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_or_inf_in_spectra_is_an_error(transformer, bad, word, sl):
    X = sl.copy()
    X.iloc[3, 10] = bad
    with pytest.raises(ValueError, match=word):
        clone(transformer).fit(X)
    fitted = clone(transformer).fit(sl)
    with pytest.raises(ValueError, match=word):
        fitted.transform(X)


def test_wrong_wavelength_count_is_an_error():
    with pytest.raises(ValueError, match="Wrong wavelength count: `wavelengths` gives 3"):
        SNV(wavelengths=[1, 2, 3]).fit(np.ones((2, 4)))


def test_transform_with_other_columns_than_fit_is_an_error(sl, sp):
    with pytest.raises(ValueError, match="features"):
        SNV().fit(sl.to_numpy()).transform(sp.to_numpy())


@pytest.mark.parametrize(
    "transformer", [WavelengthResampler(), SpectralTrim(start=1), ContinuumRemoval()]
)
def test_missing_axis_is_an_error(transformer):
    with pytest.raises(ValueError, match="needs the spectral axis"):
        transformer.fit(np.ones((2, 5)))


def test_unreadable_column_name_is_an_error():
    X = pd.DataFrame(np.ones((2, 2)), columns=["wl_450", "ERa"])
    with pytest.raises(ValueError, match="'ERa'"):
        WavelengthResampler().fit(X)


def test_unordered_axis_is_an_error():
    with pytest.raises(ValueError, match="strictly increasing or strictly decreasing"):
        WavelengthResampler(wavelengths=[400, 420, 410]).fit(np.ones((2, 3)))


def test_negative_or_zero_reflectance_is_an_error(sl):
    X = sl.copy()
    X.iloc[4, 2] = -1.0
    with pytest.raises(ValueError, match="Negative values in data.*first at row 4"):
        Absorbance().fit(X)
    X.iloc[4, 2] = 0.0
    with pytest.raises(ValueError, match="Zero reflectance"):
        Absorbance().fit(sl).transform(X)
    with pytest.raises(ValueError, match="measurement='absorbance'"):
        ContinuumRemoval().fit(X)


def test_resampling_outside_the_measured_range_is_an_error(sp):
    with pytest.raises(ValueError, match="measured only from 350 to 1700"):
        WavelengthResampler(target=(400, 2500, 2)).fit(sp)


def test_empty_target_range_is_an_error(sp):
    with pytest.raises(ValueError, match=r"target=\(1000, 400, 2\) describes no grid"):
        WavelengthResampler(target=(1000, 400, 2)).fit(sp)


@pytest.mark.parametrize(
    "target, match",
    [
        (("a", 700, 2), r"target=\('a', 700, 2\) must be three numbers \(start, stop, step\)"),
        ([], "target must hold at least one finite wavelength"),
        ([500, np.inf], "target must hold at least one finite wavelength"),
    ],
)
def test_bad_target_grid_names_the_target(sp, target, match):
    with pytest.raises(ValueError, match=match):
        WavelengthResampler(target=target).fit(sp)


def test_trim_window_errors(sp):
    with pytest.raises(ValueError, match="holds no wavelength"):
        SpectralTrim(start=2000, stop=2400).fit(sp)
    with pytest.raises(ValueError, match="larger than stop"):
        SpectralTrim(start=900, stop=500).fit(sp)


def test_binning_larger_than_spectrum_is_an_error():
    with pytest.raises(ValueError, match="bin_size=6 is larger than the spectrum"):
        Binning(bin_size=6).fit(np.ones((2, 5)))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"window_length": 10}, "must be odd"),
        ({"window_length": 5, "polyorder": 5}, "smaller than window_length"),
        ({"polyorder": 1, "deriv": 2}, "larger than polyorder"),
        ({"window_length": 301}, "longer than the spectrum"),
    ],
)
def test_savitzky_golay_setting_errors(params, message, sp):
    with pytest.raises(ValueError, match=message):
        SavitzkyGolay(**params).fit(sp)


def test_sg_derivative_on_an_uneven_axis_is_an_error(ssp):
    with pytest.raises(ValueError, match="unevenly spaced.*WavelengthResampler"):
        SavitzkyGolay(deriv=1).fit(ssp)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"nperseg": 300}, "nperseg=300 is longer than the spectrum.*finer wavelength grid"),
        ({"nperseg": 50, "noverlap": 50}, "noverlap=50 must be smaller than nperseg=50"),
        ({"nfft": 64}, "nfft=64 must be at least nperseg=100"),
        ({"window": "no-such-window"}, "Invalid window"),
    ],
)
def test_spectrogram_setting_errors(params, message, sp):
    with pytest.raises(ValueError, match=message):
        Spectrogram(**params).fit(sp)


def test_spectrogram_on_an_uneven_axis_is_an_error(ssp):
    with pytest.raises(ValueError, match="unevenly spaced.*WavelengthResampler"):
        Spectrogram().fit(ssp)


def test_spectrogram_images_cannot_become_a_dataframe(sp):
    sg = Spectrogram(flatten=False).set_output(transform="pandas")
    with pytest.raises(ValueError, match="flatten=True"):
        sg.fit_transform(sp)
    with pytest.raises(ValueError, match="flatten=True"):
        Spectrogram(flatten=False).fit(sp).get_feature_names_out()


def test_flat_spectrum_is_an_error(sp):
    X = sp.copy()
    X.iloc[7] = 5.0
    with pytest.raises(ValueError, match="1 spectra are flat.*row 7"):
        SNV().fit_transform(X)
    with pytest.raises(ValueError, match="1 spectra are flat.*row 7"):
        MSC().fit(sp).transform(X)


def test_msc_reference_errors(sp):
    with pytest.raises(ValueError, match="Wrong wavelength count: the reference"):
        MSC(reference=np.ones(3)).fit(sp)
    with pytest.raises(ValueError, match="reference spectrum is flat"):
        MSC(reference=np.ones(sp.shape[1])).fit(sp)


def test_detrend_needs_more_wavelengths_than_the_polynomial():
    with pytest.raises(ValueError, match=r"needs more than 3 wavelengths.*3 feature\(s\)"):
        Detrend(order=2).fit(np.ones((2, 3)))


def test_invalid_parameter_values_are_errors():
    with pytest.raises(ValueError, match="kind"):
        WavelengthResampler(kind="quadratic", wavelengths="index").fit(np.ones((2, 3)))
    with pytest.raises(ValueError, match="percent"):
        Absorbance(percent="yes").fit(np.ones((2, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "target",
    [
        np.arange(400.0, 499.0, 2.0),  # every point measured: a plain gather
        np.arange(401.3, 498.0, 3.7),  # some measured, most mixed: the masked add
        np.arange(400.25, 499.0, 1.0),  # every point between two measured ones
    ],
    ids=["on-grid", "partly", "off-grid"],
)
def test_linear_resampling_equals_np_interp_per_row(target, dtype):
    from sklearn_soilspec.preprocessing import resample_spectra

    wl = np.arange(400.0, 500.0, 0.5)
    rng = np.random.default_rng(0)
    X = rng.random((1100, wl.size)).astype(dtype)  # more rows than one chunk
    expected = np.vstack([np.interp(target, wl, row.astype(np.float64)) for row in X])
    out = resample_spectra(X, wl, target)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    # A descending axis (wavenumbers) and a float64 result of float32 spectra agree.
    np.testing.assert_array_equal(resample_spectra(X[:, ::-1], wl[::-1], target), out)
    wide = resample_spectra(X, wl, target, dtype=np.float64)
    np.testing.assert_allclose(wide, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("window, order, deriv", [(11, 2, 1), (15, 2, 2), (5, 3, 1), (1, 0, 0)])
def test_sg_interp_edges_match_scipy(window, order, deriv):
    from scipy.signal import savgol_filter

    rng = np.random.default_rng(0)
    X = 1.0 + rng.random((50, 40))
    expected = savgol_filter(X, window, order, deriv=deriv, delta=2.0, axis=1, mode="interp")
    sg = SavitzkyGolay(window, order, deriv=deriv, delta=2.0)
    np.testing.assert_allclose(sg.fit_transform(X), expected, rtol=1e-10, atol=1e-12)
    # float32 spectra keep their dtype; their edges are fitted in float64.
    out32 = sg.fit_transform(X.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
