"""Open Soil Spectral Library (OSSL) v1.2 tables.

Format followed: the OSSL manual (soilspectroscopy.github.io/ossl-manual,
"Database description") and the import code that writes the tables
(github.com/soilspectroscopy/ossl-imports): one table per kind,
``ossl_soilsite_L0_v1.2``, ``ossl_soillab_L1_v1.2``, ``ossl_visnir_L1_v1.2``,
``ossl_mir_L1_v1.2`` (csv or csv.gz), or everything joined in
``ossl_all_L1_v1.2``; rows keyed by ``id.layer_uuid_txt``. vis-NIR columns
are ``scan_visnir.<nm>_ref`` (reflectance as a fraction, 400-2500 nm at
2 nm), MIR columns ``scan_mir.<cm-1>_abs`` (absorbance, 600-4000 cm-1 at
2 cm-1). The source library of each row is ``dataset.code_ascii_txt``
(soilsite table).
"""

import os
import re

import numpy as np
import pandas as pd

from ._common import (
    apply_band_average,
    band_average_plan,
    clean_property,
    convert_measurement,
    drop_incomplete_spectra,
    list_csv_files,
    read_header,
    spectral_block,
    wavelengths_of,
)
from ._library import SpectralLibrary

__all__ = ["load_ossl", "OSSL_PROPERTIES"]

_ID = "id.layer_uuid_txt"

#: Short names -> OSSL v1.2 columns (USDA-harmonised, L1) and their unit.
OSSL_PROPERTIES = {
    "OC": ("oc_usda.c729_w.pct", "%"),
    "CEC": ("cec_usda.a723_cmolc.kg", "cmol(+)/kg"),
    "clay": ("clay.tot_usda.a334_w.pct", "%"),
    "pH": ("ph.h2o_usda.a268_index", "pH units (H2O)"),
}

_PATTERN = {
    "visnir": re.compile(r"^scan_visnir\.\d+(\.\d+)?_ref$"),
    "mir": re.compile(r"^scan_mir\.\d+(\.\d+)?_abs$"),
}

_DESCR = """Open Soil Spectral Library (OSSL) v1.2, level {level}, {kind} spectra.
Source: https://soilspectroscopy.org (Safanelli et al. 2023, Open Soil Spectral Library:
database description); licence CC BY 4.0 for the OSSL compilation, each source library
keeps its own licence (column dataset.license.title_ascii_txt).
groups = {groups}. Files read: {files}
"""


def load_ossl(
    path,
    spectra="visnir",
    level="L1",
    properties=("OC", "CEC", "clay", "pH"),
    groups="dataset.code_ascii_txt",
    measurement="absorbance",
    downsample=None,
    as_frame=True,
    chunksize=2000,
):
    """Load OSSL v1.2 spectra with their soil properties.

    Parameters
    ----------
    path : str, path-like or list of them
        The joined table (``ossl_all_L1_v1.2.csv.gz``), a folder holding the
        separate tables, or a list of table files; separate tables are joined
        on ``id.layer_uuid_txt``.
    spectra : {"visnir", "mir"}, default="visnir"
        Which spectra to return; rows without them are dropped.
    level : {"L0", "L1"}, default="L1"
        In a folder, only files whose name carries this level (or none) are
        read for the spectra and soil-lab tables.
    properties : sequence of str, default=("OC", "CEC", "clay", "pH")
        Short names from ``OSSL_PROPERTIES`` (``OC`` -> ``oc_usda.c729_w.pct``
        ...) or raw OSSL column names. Missing columns give NaN and a note.
    groups : str, default="dataset.code_ascii_txt"
        Column used as the domain label (source library by default).
    measurement : {"absorbance", "reflectance"}, default="absorbance"
        What ``X`` holds: vis-NIR reflectance is converted with
        ``log10(1/R)``, MIR absorbance with ``10**-A`` when asked.
    downsample : float, default=None
        Band width (nm or cm-1) to average the spectra into while reading.
    as_frame : bool, default=True
        ``X`` and ``Y`` as DataFrames.
    chunksize : int, default=2000
        Rows read at a time.

    Returns
    -------
    library : SpectralLibrary

    Examples
    --------
    >>> from sklearn_soilspec.datasets import load_ossl
    >>> lib = load_ossl("ossl_all_L1_v1.2.csv.gz", spectra="mir")  # doctest: +SKIP
    >>> lib.unit  # doctest: +SKIP
    'cm-1'
    """
    if spectra not in _PATTERN:
        raise ValueError(f"spectra must be 'visnir' or 'mir', got {spectra!r}.")
    if level not in ("L0", "L1"):
        raise ValueError(f"level must be 'L0' or 'L1', got {level!r}.")
    if measurement not in ("absorbance", "reflectance"):
        raise ValueError(f"measurement must be 'absorbance' or 'reflectance', got {measurement!r}.")
    properties = [properties] if isinstance(properties, str) else list(properties)
    if isinstance(path, (list, tuple)):
        files = [f for p in path for f in list_csv_files(p)]
    else:
        files = list_csv_files(path)
    other = "L0" if level == "L1" else "L1"
    # Site tables exist at L0 only; the level picks spectra and soil-lab tables.
    files = [f for f in files
             if f"_{other}_" not in os.path.basename(f) or "soilsite" in os.path.basename(f)]
    headers = {f: read_header(f) for f in files}
    for f, cols in headers.items():
        if _ID not in cols:
            raise ValueError(f"OSSL table {f!r} has no {_ID!r} column to join on.")
    spec_files = [f for f, cols in headers.items() if any(_PATTERN[spectra].match(c) for c in cols)]
    if not spec_files:
        raise ValueError(
            f"No {spectra} spectra in {[os.path.basename(f) for f in files]}: expected "
            f"columns like {'scan_visnir.400_ref' if spectra == 'visnir' else 'scan_mir.600_abs'}."
        )
    if len(spec_files) > 1:
        raise ValueError(f"Several tables hold {spectra} spectra: {spec_files}; pass one.")
    spec_file = spec_files[0]
    conversions = []
    ids, X, axis, side = _read_scans(spec_file, headers[spec_file], spectra, properties, groups,
                                     downsample, chunksize, conversions)

    table = side
    source = {c: spec_file for c in side.columns}
    for f, cols in headers.items():
        want = [c for c in cols if c in _wanted(properties, groups) and c not in table.columns]
        if f == spec_file or not want:
            continue
        extra = pd.read_csv(f, usecols=[_ID, *want], low_memory=False).drop_duplicates(_ID)
        table = table.merge(extra, on=_ID, how="left")
        source.update({c: f for c in want})
    if groups not in table.columns:
        raise ValueError(
            f"Groups column {groups!r} not found in {[os.path.basename(f) for f in files]}; "
            "include the soilsite table or pass groups= an existing column."
        )

    Y = np.full((ids.size, len(properties)), np.nan)
    units = {}
    for j, p in enumerate(properties):
        col, unit = OSSL_PROPERTIES.get(p, (p, "as stored"))
        units[p] = unit
        if col not in table.columns:
            conversions.append(f"Property {p!r} (column {col!r}) not found: NaN.")
            continue
        Y[:, j] = clean_property(table[col].to_numpy(), source[col], col)
    conversions.append("Negative property values read as missing.")

    input_measurement = "reflectance" if spectra == "visnir" else "absorbance"
    X = convert_measurement(X, axis, input_measurement, measurement, conversions, "OSSL")
    g = table[groups].astype("string").str.strip().fillna("unknown").to_numpy(dtype=object)
    lib = SpectralLibrary(
        X=X,
        Y=Y,
        groups=g,
        wavelengths=axis,
        unit="nm" if spectra == "visnir" else "cm-1",
        measurement=measurement,
        target_names=properties,
        target_units=units,
        sample_ids=ids,
        conversions=conversions,
        DESCR=_DESCR.format(level=level, kind=spectra, groups=groups,
                            files=", ".join(os.path.basename(f) for f in files))
        + "Conversions applied:\n" + "\n".join(f"  - {c}" for c in conversions),
    )
    return lib.as_frame() if as_frame else lib


def _wanted(properties, groups):
    return {OSSL_PROPERTIES.get(p, (p,))[0] for p in properties} | {groups}


def _read_scans(f, cols, spectra, properties, groups, downsample, chunksize, conversions):
    spec_cols = [c for c in cols if _PATTERN[spectra].match(c)]
    axis = wavelengths_of(spec_cols, f)
    plan = None
    if downsample is not None:
        plan = band_average_plan(axis, float(downsample))
        conversions.append(
            f"Spectra averaged into {downsample:g}-wide bands ({axis.size} -> "
            f"{plan[0].size} points) while reading."
        )
    side_cols = [c for c in cols if c in _wanted(properties, groups)]
    blocks, sides = [], []
    for chunk in pd.read_csv(f, usecols=[_ID, *side_cols, *spec_cols], chunksize=chunksize,
                             low_memory=False):
        block = spectral_block(chunk, spec_cols, f)
        # The joined table holds rows of the other kind only: no scan at all.
        has_scan = np.isfinite(block).any(axis=1)
        block = block[has_scan]
        if plan is not None:
            block = apply_band_average(block, plan)
        blocks.append(block)
        sides.append(chunk.loc[has_scan, [_ID, *side_cols]])
    X = np.vstack(blocks)
    side = pd.concat(sides, ignore_index=True)
    ok, note = drop_incomplete_spectra(X, "OSSL")
    if note:
        conversions.append(note)
        X, side = X[ok], side.loc[ok].reset_index(drop=True)
    dup = side[_ID].duplicated().to_numpy()
    if dup.any():
        conversions.append(f"{int(dup.sum())} duplicate {_ID} rows dropped.")
        X, side = X[~dup], side.loc[~dup].reset_index(drop=True)
    axis_out = plan[0] if plan is not None else axis
    return side[_ID].astype(str).to_numpy(dtype=object), X, axis_out, side
