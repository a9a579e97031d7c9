"""LimeSoDa spectral sets harmonised into one multi-site library.

What each set holds was checked against the data shipped with the
``limesoda`` package (0.1.5) and the per-dataset documentation of the LimeSoDa
project (Schmidinger et al., Python docs ``docs/source/datasets/*.rst`` and R
``man/*.Rd``). Findings that drive a conversion are listed in ``_SITES``.
"""

from functools import lru_cache

import numpy as np
import pandas as pd

from ..preprocessing import resample_spectra
from ..preprocessing._grid import grid_from_target
from ._common import reflectance_to_absorbance
from ._library import SpectralLibrary

__all__ = ["load_limesoda_spectra", "list_limesoda_sites", "LIMESODA_SITES"]

# The conventional van Bemmelen factor: organic matter is ~58% carbon.
SOM_TO_OC = 1.724

#: Sites with spectra, per kind. ``visnir`` lists the laboratory/field vis-NIR
#: sets used by default; ``nir_kriged`` the two sets whose NIR spectra were
#: recorded on the go and kriged to the sampling points (1000-2400 nm only).
LIMESODA_SITES = {
    "visnir": ("SSP.460", "SP.231", "SL.125", "UL.120", "CV.98", "SC.93", "SSP.58", "MG.44"),
    "nir_kriged": ("RP.62", "SA.112"),
    "mir": ("H.138", "NRW.115", "NRW.62", "NRW.42", "O.32"),
}

# Per site: what the OC column holds and the factor to % OC; clay factor to %;
# pH method; notes for the description. Units are those documented by
# LimeSoDa unless the numbers contradict them (noted).
# Shared by the sites measured with the same instrument or method.
_VERIS_NOTE = ("lab, dried; Veris MSP3 (two detectors: no data 1010.8-1070.4 nm, "
               "the grid is interpolated across the gap); SOC and clay per dm3")
_ON_THE_GO_NOTE = ("on-the-go NIR (1000-2400 nm) kriged to the sampling points: "
                   "not a spectrum of the sample itself")

_SITES = {
    "SSP.460": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="H2O",
                    note="lab, dried; IRIS MkIV; SOC Walkley-Black"),
    "SP.231": dict(oc="SOM", oc_factor=1 / SOM_TO_OC, clay_factor=1.0, ph="H2O",
                   note="in the field on moist soil (SAS3000), 350-1700 nm only; Andosols; "
                        "SOM by loss on ignition"),
    "SL.125": dict(oc="SOM", oc_factor=1 / SOM_TO_OC, clay_factor=1.0, ph="H2O",
                   note="lab, dried; ASD FieldSpec Pro; SOM by loss on ignition (clay-corrected)"),
    "UL.120": dict(oc="SOM", oc_factor=1 / SOM_TO_OC, clay_factor=1.0, ph="H2O",
                   note="lab, dried; ASD FieldSpec Pro; SOM by loss on ignition (clay-corrected)"),
    "CV.98": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="H2O",
                  note="in the field from an auger on moist soil (PSR+3500)"),
    "SC.93": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="H2O",
                  note="lab, dried; ASD FieldSpec 4"),
    "SSP.58": dict(oc="SOC", oc_factor=0.1, clay_factor=0.1, ph="CaCl2", note=_VERIS_NOTE),
    "MG.44": dict(oc="SOC", oc_factor=0.1, clay_factor=0.1, ph="CaCl2", note=_VERIS_NOTE),
    "RP.62": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="CaCl2", note=_ON_THE_GO_NOTE),
    "SA.112": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="not documented",
                   note=_ON_THE_GO_NOTE),
    "H.138": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="H2O",
                  note="Bruker Vertex 70v; one sample has pH 2.4 (kept as published); "
                       "reflectance exceeds 100% at some wavenumbers (negative absorbance)"),
    "NRW.115": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="CaCl2",
                    note="Bruker Tensor 27 HTS-XT"),
    "NRW.62": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="CaCl2",
                   note="Bruker Tensor 27 HTS-XT"),
    "NRW.42": dict(oc="SOC", oc_factor=0.1, clay_factor=1.0, ph="CaCl2",
                   note="Bruker Tensor 27 HTS-XT; SOC documented as % but 7.4-19.8, ten times "
                        "the other sets of the same lab: read as g/kg"),
    "O.32": dict(oc="SOC", oc_factor=1.0, clay_factor=1.0, ph="CaCl2",
                 note="handheld Agilent 4300"),
}

_PER_DM3 = "g/dm3 -> % (/10), assuming a fine-earth density of 1 kg/dm3"
_CONVERSION_TEXT = {
    "SOM": "OC = SOM / 1.724 (van Bemmelen factor)",
    ("SSP.58", "OC"): f"SOC {_PER_DM3}",
    ("SSP.58", "clay"): f"clay {_PER_DM3}",
    ("MG.44", "OC"): f"SOC {_PER_DM3}",
    ("MG.44", "clay"): f"clay {_PER_DM3}",
    ("NRW.42", "OC"): "SOC g/kg -> % (/10): values 7.4-19.8 are ten times those of NRW.115/NRW.62",
}

_DEFAULT_STEP = {"visnir": 5.0, "nir_kriged": 5.0, "mir": 4.0}
_TARGETS = ("OC", "pH", "clay")

_DESCR_HEAD = """LimeSoDa spectral sets (Schmidinger et al., Precision Liming Soil Datasets),
harmonised into one multi-site library by sklearn-soilspec.

Source: the `limesoda` Python package (https://github.com/a11to1n3/LimeSoDa).
Licence: CC BY-SA 4.0 (each set; contacts and references in the LimeSoDa docs).
Targets: OC (%), pH, clay (%); groups = site id; folds = LimeSoDa's 10 folds.
Spectra: stored as reflectance in % in every set (checked: 0.03-140, rising
from blue to red for vis-NIR); absorbance = log10(100 / R).
pH is kept as measured: in water or CaCl2 depending on the site (below);
pH(CaCl2) is typically 0.5-1 unit lower than pH(H2O).
"""


@lru_cache(maxsize=None)
def _load_site(site):
    """Axis, spectra (% reflectance) and raw targets of one site (cached)."""
    from LimeSoDa import load_dataset

    data = load_dataset(site)
    df = data["Dataset"]
    prefix = "wn_" if site in LIMESODA_SITES["mir"] else "wl_"
    spec = [c for c in df.columns if str(c).startswith(prefix)]
    axis = np.array([float(str(c)[len(prefix):]) for c in spec])
    X = df[spec].to_numpy(dtype=np.float64)
    X.setflags(write=False)
    raw = {
        "SOC": df["SOC_target"].to_numpy(float) if "SOC_target" in df else None,
        "SOM": df["SOM_target"].to_numpy(float) if "SOM_target" in df else None,
        "pH": df["pH_target"].to_numpy(float),
        "clay": df["Clay_target"].to_numpy(float),
    }
    folds = np.asarray(data["Folds"]).astype(int)
    return axis, X, raw, folds


def list_limesoda_sites(kind="visnir"):
    """Sites with spectra of ``kind`` ("visnir", "nir_kriged" or "mir").

    Examples
    --------
    >>> from sklearn_soilspec.datasets import list_limesoda_sites
    >>> list_limesoda_sites("mir")
    ['H.138', 'NRW.115', 'NRW.62', 'NRW.42', 'O.32']
    """
    if kind not in LIMESODA_SITES:
        raise ValueError(f"kind must be one of {sorted(LIMESODA_SITES)}, got {kind!r}.")
    return list(LIMESODA_SITES[kind])


def _kind_of(site):
    for kind, sites in LIMESODA_SITES.items():
        if site in sites:
            return kind
    known = sorted(s for v in LIMESODA_SITES.values() for s in v)
    raise ValueError(f"Unknown LimeSoDa site {site!r}; sites with spectra are {known}.")


def _default_grid(axes, kind):
    step = _DEFAULT_STEP[kind]
    lo = max(a.min() for a in axes)
    hi = min(a.max() for a in axes)
    if lo >= hi:
        raise ValueError("The selected sites share no spectral range; choose other sites.")
    grid = np.arange(np.ceil(lo / step - 1e-9) * step, hi + 1e-9, step)
    # MIR is conventionally stored from high to low wavenumber.
    return grid[::-1] if kind == "mir" else grid


def _explicit_grid(grid, axes, unit):
    """The axis a user's ``grid`` asks for, checked against every site's range."""
    target = grid_from_target(grid, "grid")
    asked = f"grid={grid!r}" if isinstance(grid, tuple) and len(grid) == 3 else "The grid"
    lo, hi = target.min(), target.max()
    # Same slack as resample_spectra: rounding in stored axis values.
    short = {s: (a.min(), a.max()) for s, a in axes.items()
             if lo < a.min() - 1e-6 or hi > a.max() + 1e-6}
    if short:
        common = (max(a.min() for a in axes.values()), min(a.max() for a in axes.values()))
        where = ", ".join(f"{s} ({a:g}-{b:g})" for s, (a, b) in short.items())
        hint = (
            f"choose a grid inside {common[0]:g}-{common[1]:g} {unit}, the range every "
            "selected site covers, or leave grid=None"
            if common[0] < common[1] else "choose other sites"
        )
        raise ValueError(
            f"{asked} asks for {target[0]:g}-{target[-1]:g} {unit} ({target.size} points), "
            f"outside the range measured at {where}: spectra are not extrapolated; {hint}."
        )
    return target


def load_limesoda_spectra(
    kind="visnir",
    sites=None,
    grid=None,
    measurement="absorbance",
    harmonise=True,
    targets=("OC", "pH", "clay"),
    as_frame=True,
):
    """Load the LimeSoDa spectral sets as one harmonised multi-site library.

    Each site's spectra are interpolated onto one wavelength grid, converted to
    one measurement type, and its targets converted to OC (%), pH and clay
    (%). Every conversion is listed in ``conversions`` and ``DESCR``.

    Parameters
    ----------
    kind : {"visnir", "mir"}, default="visnir"
        vis-NIR sets (SSP.460, SP.231, SL.125, UL.120, CV.98, SC.93, SSP.58,
        MG.44) or MIR sets (H.138, NRW.115, NRW.62, NRW.42, O.32).
    sites : list of str, default=None
        Sites to include; default all of ``kind``. RP.62 and SA.112 (kriged
        on-the-go NIR, 1000-2400 nm) can be named explicitly.
    grid : array-like, tuple (start, stop, step), "native" or None, default=None
        Target axis (nm, or cm-1 for MIR). A tuple of three numbers is a
        range, ``stop`` included when it lies on the grid, as in
        :class:`~sklearn_soilspec.preprocessing.WavelengthResampler`; a list
        or array is the grid itself. ``None``: the range every selected
        site covers, at 5 nm (vis-NIR; 435-1700 nm for the default sites,
        since SP.231 stops at 1700 nm) or 4 cm-1 (MIR, descending; 3796-752).
        ``"native"``: keep the stored axis (all sites must share it).
    measurement : {"absorbance", "reflectance"}, default="absorbance"
        Absorbance ``log10(100/R)`` or reflectance as a fraction (``R/100``).
    harmonise : bool, default=True
        Convert targets to OC (%), clay (%). With ``False`` the stored values
        are kept: the columns are then ``SOC`` and ``SOM`` (as stored, NaN for
        sites reporting the other), ``pH`` and ``clay``.
    targets : sequence of {"OC", "pH", "clay"}, default=("OC", "pH", "clay")
        Properties to return, in this order.
    as_frame : bool, default=True
        ``X`` and ``Y`` as DataFrames (columns named by wavelength, index the
        sample ids) or as arrays.

    Returns
    -------
    library : SpectralLibrary
        ``groups`` are site ids, ``folds`` LimeSoDa's fold ids (1-10 within
        each site), ``sample_ids`` ``"<site>:<row>"``.

    Notes
    -----
    Findings behind the conversions (from the data and the LimeSoDa docs):
    SP.231, SL.125 and UL.120 report SOM (OC = SOM/1.724); SSP.58 and MG.44
    report SOC and clay per dm3 (read as g/dm3 and divided by 10, i.e. a
    fine-earth density of 1 kg/dm3 is assumed) and pH in CaCl2, and their
    spectra have no data between 1010.8 and 1070.4 nm (interpolated across);
    NRW.42's SOC is in g/kg although documented as %. SP.231 and CV.98 were
    measured in the field on moist soil. pH is in water for SSP.460, SP.231,
    SL.125, UL.120, CV.98, SC.93 and H.138, in CaCl2 for the others.

    Examples
    --------
    >>> from sklearn_soilspec.datasets import load_limesoda_spectra
    >>> lib = load_limesoda_spectra()
    >>> lib.X.shape
    (1229, 254)
    >>> lib.wavelengths[[0, -1]]
    array([ 435., 1700.])
    >>> lib.domains.tolist()[:3]
    ['CV.98', 'MG.44', 'SC.93']
    >>> load_limesoda_spectra(sites="SC.93", grid=(500, 2400, 10)).X.shape
    (93, 191)
    >>> mir = load_limesoda_spectra("mir", as_frame=False)
    >>> mir.unit, mir.X.shape, mir.wavelengths[[0, -1]]
    ('cm-1', (389, 762), array([3796.,  752.]))
    """
    if kind not in ("visnir", "mir", "nir_kriged"):
        raise ValueError(f"kind must be 'visnir' or 'mir', got {kind!r}.")
    if measurement not in ("absorbance", "reflectance"):
        raise ValueError(
            f"measurement must be 'absorbance' or 'reflectance', got {measurement!r}."
        )
    targets = [targets] if isinstance(targets, str) else list(targets)
    unknown = [t for t in targets if t not in _TARGETS]
    if unknown or not targets:
        raise ValueError(f"targets must be a non-empty subset of {_TARGETS}, got {targets!r}.")
    sites = list(LIMESODA_SITES[kind]) if sites is None else (
        [sites] if isinstance(sites, str) else list(sites)
    )
    if not sites:
        raise ValueError("sites is empty; name at least one LimeSoDa site.")
    is_mir = kind == "mir"
    unit = "cm-1" if is_mir else "nm"
    for s in sites:
        if (_kind_of(s) == "mir") != is_mir:
            raise ValueError(
                f"Site {s!r} holds {'MIR' if not is_mir else 'vis-NIR'} spectra and cannot "
                f"join a kind={kind!r} library."
            )

    loaded = {s: _load_site(s) for s in sites}
    axes = [loaded[s][0] for s in sites]
    if isinstance(grid, str) and grid == "native":
        target_axis = axes[0]
        for s, a in zip(sites, axes):
            if a.shape != target_axis.shape or not np.allclose(a, target_axis):
                raise ValueError(
                    f"grid='native' needs one shared axis, but {s} is measured on a "
                    f"different one than {sites[0]}; pass a grid or leave grid=None."
                )
    elif grid is None:
        target_axis = _default_grid(axes, "mir" if is_mir else "visnir")
    else:
        target_axis = _explicit_grid(grid, dict(zip(sites, axes)), unit)

    conversions, blocks = [], []
    for s in sites:
        axis, R, _, _ = loaded[s]
        try:
            Rg = resample_spectra(R, axis, target_axis)
        except ValueError as exc:
            raise ValueError(f"Site {s}: {exc}") from exc
        if measurement == "absorbance":
            blocks.append(reflectance_to_absorbance(Rg, percent=True, where=f"LimeSoDa {s}"))
        else:
            blocks.append(Rg / 100.0)
    X = np.vstack(blocks).astype(np.float32)
    conversions.append(
        f"Spectra of {len(sites)} sites linearly interpolated onto "
        f"{target_axis[0]:g}-{target_axis[-1]:g} {unit} ({target_axis.size} points)."
    )
    conversions.append(
        "Reflectance in % -> absorbance log10(100/R)."
        if measurement == "absorbance"
        else "Reflectance in % -> fraction (R/100)."
    )

    Y, units = _targets(sites, loaded, targets, harmonise, conversions)
    groups = np.concatenate([[s] * loaded[s][1].shape[0] for s in sites]).astype(object)
    ids = np.concatenate(
        [[f"{s}:{i}" for i in range(loaded[s][1].shape[0])] for s in sites]
    ).astype(object)
    folds = np.concatenate([loaded[s][3] for s in sites])

    lib = SpectralLibrary(
        X=X,
        Y=Y.to_numpy(dtype=np.float64),
        groups=groups,
        wavelengths=target_axis,
        unit=unit,
        measurement=measurement,
        target_names=list(Y.columns),
        target_units=units,
        sample_ids=ids,
        folds=folds,
        conversions=conversions,
        DESCR=_describe(sites, loaded, conversions),
    )
    return lib.as_frame() if as_frame else lib


def _targets(sites, loaded, targets, harmonise, conversions):
    ph_methods = {s: _SITES[s]["ph"] for s in sites}
    ph_unit = "pH units; " + "; ".join(
        f"{m}: {', '.join(s for s in sites if ph_methods[s] == m)}"
        for m in dict.fromkeys(ph_methods.values())
    )
    n = sum(loaded[s][1].shape[0] for s in sites)
    cols, units = {}, {}
    for t in targets:
        if t == "pH":
            cols["pH"] = np.concatenate([loaded[s][2]["pH"] for s in sites])
            units["pH"] = ph_unit
        elif t == "clay":
            parts = []
            for s in sites:
                f = _SITES[s]["clay_factor"] if harmonise else 1.0
                parts.append(loaded[s][2]["clay"] * f)
                if harmonise and f != 1.0:
                    conversions.append(f"{s}: {_CONVERSION_TEXT[s, 'clay']}.")
            cols["clay"] = np.concatenate(parts)
            units["clay"] = "%" if harmonise else "as stored (see DESCR)"
        elif harmonise:
            parts = []
            for s in sites:
                info = _SITES[s]
                parts.append(loaded[s][2][info["oc"]] * info["oc_factor"])
                if info["oc"] == "SOM":
                    conversions.append(f"{s}: {_CONVERSION_TEXT['SOM']}.")
                elif info["oc_factor"] != 1.0:
                    conversions.append(f"{s}: {_CONVERSION_TEXT[s, 'OC']}.")
            cols["OC"] = np.concatenate(parts)
            units["OC"] = "%"
        else:
            for name in ("SOC", "SOM"):
                if any(loaded[s][2][name] is not None for s in sites):
                    cols[name] = np.concatenate([
                        loaded[s][2][name] if loaded[s][2][name] is not None
                        else np.full(loaded[s][1].shape[0], np.nan)
                        for s in sites
                    ])
                    units[name] = "as stored (see DESCR)"
    Y = pd.DataFrame(cols)
    assert len(Y) == n
    return Y, units


def _describe(sites, loaded, conversions):
    lines = [_DESCR_HEAD, "Sites:"]
    for s in sites:
        axis, X, raw, _ = loaded[s]
        info = _SITES[s]
        lines.append(
            f"  {s}: n={X.shape[0]}, {axis.min():g}-{axis.max():g}, {info['oc']} "
            f"reported, pH in {info['ph']}; {info['note']}."
        )
    lines.append("Conversions applied:")
    lines.extend(f"  - {c}" for c in conversions)
    return "\n".join(lines)
