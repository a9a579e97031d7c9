"""A soil spectrum as the image the 2-D CNN sees: its spectrogram.

One LimeSoDa SSP.460 absorbance spectrum (stored on an uneven 1-5 nm axis)
resampled onto even 2 nm and 10 nm grids, each turned into a log-power
spectrogram with the defaults of Padarian et al. (2019): Hann windows of 100
points, 50 shared. The coarser grid gives a much smaller image, because a
window of 100 points then spans 1000 nm. Writes ``plot_spectrogram.png`` (default: into
``docs/_static``).

Run::

    python examples/plot_spectrogram.py [--out FOLDER]
"""

import argparse
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.pipeline import make_pipeline

from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.preprocessing import Spectrogram, WavelengthResampler


def main(out):
    lib = load_limesoda_spectra(sites=["SSP.460"], grid="native")  # absorbance, uneven axis
    spectrum = lib.X.iloc[:1]
    images = []
    for step in (2, 10):
        # A Fourier transform needs evenly spaced points: resample first.
        pipe = make_pipeline(WavelengthResampler(target=(350, 2490, step)),
                             Spectrogram(flatten=False)).fit(spectrum)
        n_points = pipe[0].target_wavelengths_.size
        images.append((f"{step} nm grid ({n_points} points)", pipe.transform(spectrum)[0],
                       pipe[-1].image_shape_))
    fig = Figure(figsize=(9, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplot_mosaic([["spectrum", "spectrum"], ["img0", "img1"]],
                              height_ratios=[1, 1.6])
    ax_spec = axes["spectrum"]
    ax_spec.plot(lib.wavelengths, spectrum.to_numpy()[0], color="C0", lw=1)
    ax_spec.set_xlabel("wavelength (nm)")
    ax_spec.set_ylabel("log10(1/R)")
    ax_spec.set_title("SSP.460, sample 0", fontsize="medium")
    for k, (title, image, shape) in enumerate(images):
        ax = axes[f"img{k}"]
        im = ax.imshow(image, aspect="auto", origin="lower", cmap="viridis")
        ax.set_title(f"{title}\nimage {shape[0]} x {shape[1]}", fontsize="medium")
        ax.set_xlabel("window along the spectrum")
        ax.set_ylabel("frequency bin")
        fig.colorbar(im, ax=ax, label="log power")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "plot_spectrogram.png"
    fig.savefig(path, dpi=80)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).resolve().parent.parent / "docs" / "_static")
    print(main(parser.parse_args().out))
