"""scikit-learn's common estimator checks for every spectral transformer.

The checks feed plain arrays without a wavelength axis, so the transformers
that need one are configured with ``wavelengths="index"`` (column positions),
and windows are kept small enough for the checks' 2-5 column data.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

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
)

# scikit-learn makes "positive only" data as X - X.min(), which holds an exact
# 0; reflectance 0 has no absorbance and no continuum ratio, so these checks
# stop at the (intended) "Zero reflectance" error before reaching what they test.
_ZERO_REFLECTANCE = (
    "sklearn's positive_only check data contains a reflectance of exactly 0, "
    "which is rejected on purpose"
)
_FED_A_ZERO = [
    "check_dict_unchanged",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_pipeline_consistency",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
]
_ALSO_FITTED_ON_A_ZERO = [
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_readonly_memmap_input",
]
# check_estimators_dtypes casts its random data to int, which makes some rows
# constant: a flat spectrum has no scatter to correct and is an error.
_FLAT_ROWS = {
    "check_estimators_dtypes": "integer check data has constant rows; SNV/MSC reject "
    "flat spectra on purpose"
}


def _expected_failures(estimator):
    takes_reflectance = (isinstance(estimator, Absorbance) and not estimator.inverse) or (
        isinstance(estimator, ContinuumRemoval) and estimator.measurement == "reflectance"
    )
    if takes_reflectance:
        return dict.fromkeys(_FED_A_ZERO + _ALSO_FITTED_ON_A_ZERO, _ZERO_REFLECTANCE)
    if isinstance(estimator, (SNV, MSC)):
        return _FLAT_ROWS
    return {}


@parametrize_with_checks(
    [
        Absorbance(),
        Absorbance(inverse=True),
        WavelengthResampler(wavelengths="index"),
        WavelengthResampler(kind="cubic", wavelengths="index"),
        SpectralTrim(start=1, wavelengths="index"),
        Binning(bin_size=2),
        SNV(),
        MSC(),
        MSC(reference="median"),
        SavitzkyGolay(window_length=3, polyorder=1, deriv=1, mode="nearest"),
        Detrend(order=0),
        ContinuumRemoval(wavelengths="index"),
        ContinuumRemoval(measurement="absorbance", wavelengths="index"),
        Spectrogram(nperseg=2, noverlap=1),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
