"""
==================================================
A soil spectrum as the image the 2-D CNN sees
==================================================

One LimeSoDa SSP.460 absorbance spectrum (stored on an uneven 1-5 nm axis)
resampled onto even 2 nm and 10 nm grids, each turned into a log-power
spectrogram with the defaults of Padarian et al. (2019): Hann windows of 100
points, 50 shared. The coarser grid gives a much smaller image, because a
window of 100 points then spans 1000 nm.
"""

# %%
# One spectrum on its native axis
# -------------------------------
import matplotlib.pyplot as plt
from sklearn.pipeline import make_pipeline

from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.preprocessing import Spectrogram, WavelengthResampler

lib = load_limesoda_spectra(sites=["SSP.460"], grid="native")  # absorbance, uneven axis
spectrum = lib.X.iloc[:1]

# %%
# Resample, then transform
# ------------------------
# A Fourier transform needs evenly spaced points, so each pipeline resamples
# onto an even grid first. ``flatten=False`` keeps the image 2-D;
# ``image_shape_`` is what the network's input layer is built for.
images = []
for step in (2, 10):
    pipe = make_pipeline(WavelengthResampler(target=(350, 2490, step)),
                         Spectrogram(flatten=False)).fit(spectrum)
    n_points = pipe[0].target_wavelengths_.size
    images.append((f"{step} nm grid ({n_points} points)", pipe.transform(spectrum)[0],
                   pipe[-1].image_shape_))
    print(f"{step:>2} nm: {n_points} points -> image {pipe[-1].image_shape_}")

# %%
# The spectrum and its two images
# -------------------------------
fig, axes = plt.subplot_mosaic([["spectrum", "spectrum"], ["img0", "img1"]],
                               height_ratios=[1, 1.6], figsize=(9, 5.2),
                               layout="constrained")
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
plt.show()
