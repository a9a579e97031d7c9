"""LUCAS topsoil (2009 and 2015) spectra and properties from the ESDAC files.

Formats followed:

* 2009: the ESDAC spectra distributed as an R object (``LUCAS.SOIL_corr``,
  4,200 absorbance channels 400-2499.5 nm at 0.5 nm, matrix ``spc`` with
  ``ID`` and ``POINT_ID``) exported to CSV, where R names the matrix columns
  ``spc.400``, ``spc.400.5``, ...; properties either in the same file or in
  the topsoil table (``LUCAS_TOPSOIL_v1``: ``POINT_ID``, ``OC`` g/kg, ``CEC``
  cmol(+)/kg, ``clay`` %, ``pH_in_H2O``, ``pH_in_CaCl`` ...), joined on
  ``POINT_ID``. Column names and units as used by the OSSL import of LUCAS
  (github.com/soilspectroscopy/ossl-imports, ``dataset/LUCAS/README``).
* 2015: per-country files ``spectra_ <CC> .csv`` (note the spaces) with
  ``PointID``, ``NUTS_0`` and 4,200 columns ``400`` ... ``2499.5``, several
  rows (replicate scans) per point, averaged here; properties in
  ``LUCAS_Topsoil_2015_20200323.csv`` (``Point_ID``, ``OC`` g/kg, ``Clay``,
  ``pH(H2O)``, ``pH(CaCl2)``, ``NUTS_0``; no CEC). Names as in the ESDAC
  release and the OSSL import above.

The OSSL import treats both spectral releases as absorbance; the measurement
is nevertheless checked from the data (``input_measurement="auto"``).
Negative values (-999, -1) and "< LOD" strings are the LUCAS codes for "not
measured" and become NaN.
"""

import os
import re

import numpy as np
import pandas as pd

from ._common import (
    apply_band_average,
    average_replicates,
    band_average_plan,
    clean_property,
    convert_measurement,
    drop_incomplete_spectra,
    find_column,
    list_csv_files,
    read_header,
    spectral_block,
    wavelengths_of,
)
from ._library import SpectralLibrary

__all__ = ["load_lucas"]

_ID_COLUMNS = ("POINT_ID", "PointID", "Point_ID", "POINTID")
_COUNTRY_COLUMNS = ("NUTS_0", "NUTS0", "country", "Country", "CC")
_SPECTRAL = re.compile(r"^(spc\.)?\d+(\.\d+)?$")

#: LUCAS property names -> column names in the 2009 and 2015 tables, and unit.
LUCAS_PROPERTIES = {
    "OC": (("OC",), "g/kg"),
    "CEC": (("CEC",), "cmol(+)/kg"),
    "clay": (("clay", "Clay"), "%"),
    "silt": (("silt", "Silt"), "%"),
    "sand": (("sand", "Sand"), "%"),
    "pH": (("pH_in_H2O", "pH(H2O)", "pHinH2O", "pH_H2O"), "pH units (H2O)"),
    "pH_CaCl2": (("pH_in_CaCl", "pH(CaCl2)", "pHinCaCl2", "pH_CaCl2"), "pH units (CaCl2)"),
    "CaCO3": (("CaCO3",), "g/kg"),
    "N": (("N",), "g/kg"),
    "P": (("P",), "mg/kg"),
    "K": (("K",), "mg/kg"),
}

_DESCR = """LUCAS topsoil survey {year} (Land Use/Cover Area frame Survey, European Commission).
Source: European Soil Data Centre (ESDAC), https://esdac.jrc.ec.europa.eu/projects/lucas
Licence: ESDAC/JRC licence agreement (free use, no redistribution; cite Orgiazzi et al. 2018,
Eur. J. Soil Sci. 69:140-153 and the ESDAC reports). Spectra: FOSS XDS, 400-2499.5 nm at
0.5 nm, dried and sieved samples. groups = country code (NUTS_0).
Files read: {files}
"""


def _is_spectral(col):
    return bool(_SPECTRAL.match(col))


def _classify(files):
    spectra, props = [], []
    for f in files:
        cols = read_header(f)
        (spectra if sum(_is_spectral(c) for c in cols) >= 10 else props).append((f, cols))
    return spectra, props


def load_lucas(
    path,
    year="auto",
    properties=("OC", "CEC", "clay", "pH"),
    downsample=None,
    countries=None,
    measurement="absorbance",
    input_measurement="auto",
    oc_unit="g/kg",
    group_column=None,
    as_frame=True,
    chunksize=2000,
):
    """Load LUCAS topsoil spectra with their soil properties.

    Parameters
    ----------
    path : str or path-like
        A CSV file (2009 export with ``spc.<nm>`` columns and properties) or a
        folder holding the spectra files (2009 export or the 2015
        ``spectra_ <CC> .csv`` files) and optionally the property table.
        ``.csv.gz`` works too.
    year : {2009, 2015, "auto"}, default="auto"
        Release format; ``"auto"`` reads it from the column names.
    properties : sequence of str, default=("OC", "CEC", "clay", "pH")
        Targets, named as in ``LUCAS_PROPERTIES`` (``OC`` g/kg, ``CEC``
        cmol(+)/kg, ``clay`` %, ``pH`` in water, ``pH_CaCl2``, ``N``, ``P``,
        ``K``, ``CaCO3``, ``sand``, ``silt``) or as a raw column name. A
        property the files do not hold is returned as NaN and noted.
    downsample : float, default=None
        Band width in nm: average the 0.5 nm channels into bands of this
        width while reading (e.g. 10 -> 210 bands), so that the full library
        never sits in memory at full resolution.
    countries : sequence of str, default=None
        Keep only these country codes (``NUTS_0``, e.g. ``["FR", "DE"]``).
    measurement : {"absorbance", "reflectance"}, default="absorbance"
        What ``X`` holds on return.
    input_measurement : {"auto", "absorbance", "reflectance"}, default="auto"
        What the files hold; ``"auto"`` decides from the visible slope
        (reflectance rises from 450 to 750 nm, absorbance falls).
    oc_unit : {"g/kg", "%"}, default="g/kg"
        Unit of ``OC`` (LUCAS reports g/kg; LimeSoDa libraries use %).
    group_column : str, default=None
        Column holding the domain label; default ``NUTS_0`` (or ``country``).
    as_frame : bool, default=True
        ``X`` and ``Y`` as DataFrames.
    chunksize : int, default=2000
        Rows read at a time.

    Returns
    -------
    library : SpectralLibrary
        ``groups`` are country codes; ``sample_ids`` the LUCAS point ids.

    Examples
    --------
    >>> from sklearn_soilspec.datasets import load_lucas
    >>> lib = load_lucas("LUCAS2015_spectra/", downsample=10)  # doctest: +SKIP
    >>> lib.X.shape  # doctest: +SKIP
    (21782, 210)
    """
    if year not in (2009, 2015, "auto"):
        raise ValueError(f"year must be 2009, 2015 or 'auto', got {year!r}.")
    if measurement not in ("absorbance", "reflectance"):
        raise ValueError(f"measurement must be 'absorbance' or 'reflectance', got {measurement!r}.")
    if input_measurement not in ("auto", "absorbance", "reflectance"):
        raise ValueError(
            f"input_measurement must be 'auto', 'absorbance' or 'reflectance', "
            f"got {input_measurement!r}."
        )
    if oc_unit not in ("g/kg", "%"):
        raise ValueError(f"oc_unit must be 'g/kg' or '%', got {oc_unit!r}.")
    properties = [properties] if isinstance(properties, str) else list(properties)
    files = list_csv_files(path)
    spectra_files, prop_tables = _classify(files)
    if not spectra_files:
        raise ValueError(
            f"No LUCAS spectra found under {os.fspath(path)!r}: expected columns named "
            "'spc.400' ... (2009) or '400' ... '2499.5' (2015)."
        )
    if year == "auto":
        year = 2009 if any(c.startswith("spc.") for c in spectra_files[0][1]) else 2015
    if countries is not None:
        countries = [countries] if isinstance(countries, str) else countries
        countries = {str(c).upper() for c in countries}
        spectra_files = [
            (f, cols) for f, cols in spectra_files if _file_country(f) in (None, *countries)
        ]
        if not spectra_files:
            raise ValueError(f"No spectra files for countries {sorted(countries)} under {path!r}.")

    conversions = []
    ids, X, side, axis = _read_spectra(
        spectra_files, properties, countries, downsample, group_column, chunksize, conversions
    )
    ids, X, side = _average(ids, X, side, conversions)
    Y, units, groups = _properties(ids, side, prop_tables, properties, group_column, oc_unit,
                                   conversions)
    if countries is not None:
        keep = np.isin(groups.astype(str), list(countries))
        ids, X, Y, groups = ids[keep], X[keep], Y[keep], groups[keep]

    X = convert_measurement(X, axis, input_measurement, measurement, conversions, "LUCAS")
    lib = SpectralLibrary(
        X=X,
        Y=Y,
        groups=groups,
        wavelengths=axis,
        unit="nm",
        measurement=measurement,
        target_names=list(properties),
        target_units=units,
        sample_ids=ids.astype(str).astype(object),
        conversions=conversions,
        DESCR=_DESCR.format(year=year, files=", ".join(os.path.basename(f) for f in files))
        + "Conversions applied:\n" + "\n".join(f"  - {c}" for c in conversions),
    )
    return lib.as_frame() if as_frame else lib


def _file_country(path):
    m = re.search(r"spectra_\s*([A-Za-z]{2})\s*\.csv", os.path.basename(path))
    return m.group(1).upper() if m else None


def _read_spectra(spectra_files, properties, countries, downsample, group_column, chunksize,
                  conversions):
    """Spectra (float32, optionally band-averaged) and the side columns."""
    ids_all, X_all, side_all = [], [], []
    axis_ref, plan = None, None
    for f, cols in spectra_files:
        spec_cols = [c for c in cols if _is_spectral(c)]
        axis = wavelengths_of(spec_cols, f)
        if axis_ref is None:
            axis_ref = axis
            if downsample is not None:
                plan = band_average_plan(axis, float(downsample))
                conversions.append(
                    f"Spectra averaged into {downsample:g} nm bands "
                    f"({axis.size} -> {plan[0].size} points) while reading."
                )
        elif axis.shape != axis_ref.shape or not np.allclose(axis, axis_ref):
            raise ValueError(
                f"{f!r} has a different wavelength axis ({axis.size} columns, "
                f"{axis.min():g}-{axis.max():g} nm) than {spectra_files[0][0]!r}."
            )
        id_col = find_column(cols, _ID_COLUMNS) or find_column(cols, ("ID",))
        if id_col is None:
            raise ValueError(
                f"{f!r} has no point id column; expected one of {list(_ID_COLUMNS)}."
            )
        wanted_side = {id_col}
        for name in (group_column, *_COUNTRY_COLUMNS):
            if name and name in cols:
                wanted_side.add(name)
        for p in properties:
            cands = LUCAS_PROPERTIES.get(p, ((p,), None))[0]
            c = find_column(cols, cands)
            if c:
                wanted_side.add(c)
        reader = pd.read_csv(f, chunksize=chunksize, low_memory=False)
        for chunk in reader:
            chunk.columns = [str(c).strip() for c in chunk.columns]
            block = spectral_block(chunk, spec_cols, f)
            if plan is not None:
                block = apply_band_average(block, plan)
            side = chunk[sorted(wanted_side)].rename(columns={id_col: "_id"})
            side["_file"] = f
            ids_all.append(side["_id"].astype(str).str.strip().to_numpy(dtype=object))
            X_all.append(block)
            side_all.append(side)
    axis_out = plan[0] if plan is not None else axis_ref
    X = np.vstack(X_all) if X_all else np.empty((0, axis_out.size), np.float32)
    side = pd.concat(side_all, ignore_index=True)
    return np.concatenate(ids_all), X, side, axis_out


def _average(ids, X, side, conversions):
    ok, note = drop_incomplete_spectra(X, "LUCAS")
    if note:
        conversions.append(note)
        ids, X, side = ids[ok], X[ok], side.loc[ok].reset_index(drop=True)
    uniq_ids, X_mean, n_rep = average_replicates(ids, X)
    if n_rep:
        conversions.append(
            f"{n_rep} replicate scans averaged: one mean spectrum per point "
            f"({ids.size} scans -> {uniq_ids.size} points)."
        )
        side = side.assign(_id=ids).drop_duplicates("_id").set_index("_id").loc[uniq_ids]
        side = side.reset_index()
    return uniq_ids, X_mean, side


def _properties(ids, side, prop_tables, properties, group_column, oc_unit, conversions):
    """Targets and groups from the spectra files and/or the property tables."""
    table, table_file = None, None
    if prop_tables:
        frames = []
        for f, cols in prop_tables:
            key = find_column(cols, _ID_COLUMNS)
            if key is None:
                raise ValueError(
                    f"Property table {f!r} has no point id column; expected one of "
                    f"{list(_ID_COLUMNS)} to join it to the spectra."
                )
            t = pd.read_csv(f, low_memory=False)
            t.columns = [str(c).strip() for c in t.columns]
            t = t.rename(columns={key: "_id"})
            t["_id"] = t["_id"].astype(str).str.strip()
            t["_file"] = f
            frames.append(t)
        table = pd.concat(frames, ignore_index=True).drop_duplicates("_id")
        table_file = ", ".join(f for f, _ in prop_tables)
        matched = np.isin(ids.astype(str), table["_id"].to_numpy(str))
        if not matched.any():
            raise ValueError(
                f"No point id of the spectra matches an id in {table_file!r}; "
                "check that both files come from the same LUCAS release."
            )
        table = table.set_index("_id").reindex(ids.astype(str))

    def column(cands):
        for src, frame in (("spectra", side), ("table", table)):
            if frame is None:
                continue
            c = find_column(list(frame.columns), cands)
            if c is not None:
                f = frame["_file"].iloc[0] if "_file" in frame and len(frame) else src
                return frame[c].to_numpy(), c, f
        return None, None, None

    Y = np.full((ids.size, len(properties)), np.nan)
    units = {}
    for j, p in enumerate(properties):
        cands, unit = LUCAS_PROPERTIES.get(p, ((p,), "as stored"))
        values, col, f = column(cands)
        if values is None:
            conversions.append(
                f"Property {p!r} not found in the files (columns {list(cands)}): NaN."
            )
            units[p] = unit
            continue
        Y[:, j] = clean_property(values, f, col)
        if p == "OC" and oc_unit == "%":
            Y[:, j] /= 10.0
            conversions.append("OC g/kg -> % (/10).")
            unit = "%"
        units[p] = unit
    conversions.append("Negative values and '< LOD' entries in the properties read as missing.")

    gcands = (group_column,) if group_column else _COUNTRY_COLUMNS
    groups, _, _ = column(gcands)
    if groups is None:
        raise ValueError(
            f"No country column found (looked for {list(gcands)}) in the spectra or "
            "property files; pass group_column= to name the domain column."
        )
    groups = pd.Series(groups).astype("string").str.strip().fillna("unknown")
    return Y, units, groups.to_numpy(dtype=object)
