"""Raw reflectance, absorbance, SNV and a Savitzky-Golay derivative of real soils.

Five samples of the LimeSoDa site SSP.460 (laboratory vis-NIR of dried soil),
chosen to span its organic carbon range, through the usual preprocessing
chain. Writes ``plot_preprocessing.png`` (default: into ``docs/_static``).

Run::

    python examples/plot_preprocessing.py [--out FOLDER]
"""

import argparse
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.preprocessing import SNV, Absorbance, SavitzkyGolay


def main(out):
    lib = load_limesoda_spectra(sites=["SSP.460"], grid="native", measurement="reflectance")
    oc = lib.Y["OC"].to_numpy()
    # Samples at evenly spaced quantiles of OC, lowest to highest.
    order = np.argsort(oc)
    rows = order[np.linspace(0, oc.size - 1, 5).round().astype(int)]
    R = lib.X.iloc[rows]  # reflectance as a fraction, columns named by wavelength

    A = Absorbance().fit_transform(R)  # log10(1/R)
    A_snv = SNV().fit_transform(A)
    # The axis comes from the column names, so the derivative is per nm.
    d1 = SavitzkyGolay(window_length=11, polyorder=2, deriv=1).fit_transform(A)

    wl = lib.wavelengths
    panels = [
        (R.to_numpy(), "reflectance (fraction)", "Raw reflectance R"),
        (A, "log10(1/R)", "Absorbance"),
        (A_snv, "SNV absorbance", "SNV: scatter removed"),
        (d1 * 1e3, "d log10(1/R) / dλ (×10⁻³ nm⁻¹)", "Savitzky-Golay 1st derivative"),
    ]
    fig = Figure(figsize=(9, 6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    colours = [f"C{i}" for i in range(len(rows))]
    for ax, (values, ylabel, title) in zip(axes, panels):
        for k, (row, c) in enumerate(zip(values, colours)):
            ax.plot(wl, row, color=c, lw=1.0, label=f"OC {oc[rows[k]]:.2f} %")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel(ylabel)
    for ax in axes[2:]:
        ax.set_xlabel("wavelength (nm)")
    axes[0].legend(fontsize="small", title="SSP.460", title_fontsize="small")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "plot_preprocessing.png"
    fig.savefig(path, dpi=80)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).resolve().parent.parent / "docs" / "_static")
    print(main(parser.parse_args().out))
