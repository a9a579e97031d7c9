"""Synthetic soil spectra with domain structure, for scale and speed tests."""

import numpy as np

from ._library import SpectralLibrary

__all__ = ["make_spectra"]

_ROWS = 4096  # rows generated at a time: bounded temporaries at any n_samples

# Absorption features (centre nm, width nm): what each property deepens.
# Clay: O-H / H2O near 1400 and 1900 nm, Al-OH at 2200 nm; OC: broad visible
# darkening, C-H near 1700 and 2300 nm; pH: carbonate band near 2340 nm
# (calcareous soils are alkaline).
_BANDS = {
    "clay": ((1400.0, 25.0, 0.5), (1900.0, 40.0, 1.0), (2200.0, 30.0, 0.6)),
    "OC": ((1700.0, 40.0, 0.25), (2300.0, 40.0, 0.35)),
    "pH": ((2340.0, 35.0, 0.5),),
}
_UNITS = {"OC": "%", "clay": "%", "pH": "pH units"}


def _gauss(wl, centre, width):
    return np.exp(-0.5 * ((wl - centre) / width) ** 2)


def make_spectra(
    n_samples=1000,
    n_domains=5,
    wavelengths=None,
    targets=("OC", "clay", "pH"),
    domain_shift=1.0,
    noise=0.002,
    missing_fraction=0.0,
    dtype=np.float32,
    random_state=None,
):
    """Generate vis-NIR absorbance spectra whose shape depends on soil properties.

    Each spectrum is a smooth baseline (offset, slope and a visible-region
    darkening that grows with OC), plus Gaussian absorption bands whose depth
    grows with clay (1400, 1900, 2200 nm), OC (1700, 2300 nm) and pH
    (carbonate, 2340 nm), plus white noise. Each domain has its own target
    distribution, baseline offset and slope, multiplicative scatter and
    band sensitivity, so a model trained on other domains is biased on it.

    Only for scale, speed and plumbing tests: the spectra are not real soil
    spectra and results on them say nothing about accuracy on real data.

    Parameters
    ----------
    n_samples : int, default=1000
    n_domains : int, default=5
        Samples are spread evenly over ``domain_0`` ... ``domain_<k-1>``.
    wavelengths : array-like, default=None
        Axis in nm; default 400-2500 nm at 2 nm (1051 points). A 0.5 nm axis
        gives LUCAS-sized spectra (4200 points).
    targets : sequence of {"OC", "clay", "pH"}, default=("OC", "clay", "pH")
    domain_shift : float, default=1.0
        Scale of the differences between domains; 0 gives one population.
    noise : float, default=0.002
        Standard deviation of the white noise (absorbance units).
    missing_fraction : float, default=0.0
        Fraction of target values set to NaN at random.
    dtype : dtype, default=np.float32
    random_state : int, Generator or None, default=None

    Returns
    -------
    library : SpectralLibrary
        ``X`` (ndarray, absorbance) and ``Y`` (ndarray); call ``as_frame()``
        for DataFrames.

    Examples
    --------
    >>> from sklearn_soilspec.datasets import make_spectra
    >>> lib = make_spectra(n_samples=50, n_domains=2, random_state=0)
    >>> lib.X.shape, lib.X.dtype.name, lib.domains.tolist()
    ((50, 1051), 'float32', ['domain_0', 'domain_1'])
    """
    targets = [targets] if isinstance(targets, str) else list(targets)
    unknown = [t for t in targets if t not in _BANDS]
    if unknown or not targets:
        raise ValueError(f"targets must be a non-empty subset of {tuple(_BANDS)}, got {targets!r}.")
    if int(n_samples) < 1 or int(n_domains) < 1 or int(n_domains) > int(n_samples):
        raise ValueError(
            f"Need 1 <= n_domains <= n_samples, got n_samples={n_samples}, n_domains={n_domains}."
        )
    if not 0.0 <= missing_fraction < 1.0:
        raise ValueError(f"missing_fraction must be in [0, 1), got {missing_fraction!r}.")
    rng = np.random.default_rng(random_state)
    wl = (np.arange(400.0, 2500.0 + 1e-9, 2.0) if wavelengths is None
          else np.asarray(wavelengths, dtype=np.float64).ravel())
    n, k = int(n_samples), int(n_domains)
    dom = np.sort(np.arange(n) % k)
    s = float(domain_shift)

    # Per-domain properties: target means, baseline, scatter, band sensitivity.
    oc_mu = np.log(1.5) + 0.5 * s * rng.standard_normal(k)
    clay_mu = np.clip(25 + 12 * s * rng.standard_normal(k), 5, 60)
    ph_mu = np.clip(6.5 + 0.8 * s * rng.standard_normal(k), 4.5, 8.5)
    offset = 0.08 * s * rng.standard_normal(k)
    slope = 0.05 * s * rng.standard_normal(k)
    scatter = 1 + 0.08 * s * rng.standard_normal(k)
    sens = 1 + 0.25 * s * rng.standard_normal((k, len(_BANDS)))

    values = {
        "OC": np.exp(oc_mu[dom] + 0.5 * rng.standard_normal(n)),
        "clay": np.clip(clay_mu[dom] + 8 * rng.standard_normal(n), 1, 90),
        "pH": np.clip(ph_mu[dom] + 0.5 * rng.standard_normal(n), 3.5, 9.5),
    }
    # Shapes (n_components, n_wl): baseline terms, then one summed shape per property.
    x = (wl - wl.min()) / max(np.ptp(wl), 1.0)
    visible = np.exp(-(wl - 400.0) / 250.0)
    shapes = [np.ones_like(wl), x, visible]
    for name in _BANDS:
        shapes.append(sum(d * _gauss(wl, c, w) for c, w, d in _BANDS[name]))
    shapes = np.asarray(shapes, dtype=np.float32)

    # Loadings per sample: constant, slope, visible darkening, then band depths.
    scaled = {"OC": values["OC"] / 3.0, "clay": values["clay"] / 40.0,
              "pH": np.clip(values["pH"] - 7.0, 0, None) / 1.5}
    coef = np.empty((n, shapes.shape[0]), dtype=np.float32)
    coef[:, 0] = 0.35 + offset[dom] + 0.03 * rng.standard_normal(n)
    coef[:, 1] = 0.15 + slope[dom]
    coef[:, 2] = 0.25 + 0.4 * scaled["OC"]
    for j, name in enumerate(_BANDS):
        coef[:, 3 + j] = 0.12 * sens[dom, j] * scaled[name]
    mult = (scatter[dom] * (1 + 0.03 * rng.standard_normal(n))).astype(np.float32)

    X = np.empty((n, wl.size), dtype=dtype)
    for start in range(0, n, _ROWS):
        stop = min(start + _ROWS, n)
        block = coef[start:stop] @ shapes
        block *= mult[start:stop, None]
        block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(noise)
        X[start:stop] = block

    Y = np.column_stack([values[t] for t in targets]).astype(np.float64)
    if missing_fraction > 0:
        Y[rng.random(Y.shape) < missing_fraction] = np.nan
    groups = np.array([f"domain_{d}" for d in dom], dtype=object)
    return SpectralLibrary(
        X=X,
        Y=Y,
        groups=groups,
        wavelengths=wl,
        unit="nm",
        measurement="absorbance",
        target_names=targets,
        target_units={t: _UNITS[t] for t in targets},
        sample_ids=np.array([f"s{i:06d}" for i in range(n)], dtype=object),
        DESCR=(
            "Synthetic vis-NIR absorbance spectra from sklearn_soilspec.datasets.make_spectra "
            f"(n_samples={n}, n_domains={k}, domain_shift={s:g}, noise={noise:g}). "
            "For scale and speed tests only; never for accuracy claims."
        ),
    )
