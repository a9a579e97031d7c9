"""
===================================================================
Raw reflectance, absorbance, SNV and a Savitzky-Golay derivative
===================================================================

Five samples of the LimeSoDa site SSP.460 (laboratory vis-NIR of dried soil),
chosen to span its organic carbon range, through the usual preprocessing
chain: reflectance to absorbance, the standard normal variate against
scatter, and a Savitzky-Golay first derivative against baseline shifts.
"""

# %%
# Five samples across the range of organic carbon
# ------------------------------------------------
# ``grid="native"`` keeps the spectra on the site's own wavelengths and
# ``measurement="reflectance"`` as the instrument gave them.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_soilspec.datasets import load_limesoda_spectra
from sklearn_soilspec.preprocessing import SNV, Absorbance, SavitzkyGolay

lib = load_limesoda_spectra(sites=["SSP.460"], grid="native", measurement="reflectance")
oc = lib.Y["OC"].to_numpy()
# Samples at evenly spaced quantiles of OC, lowest to highest.
order = np.argsort(oc)
rows = order[np.linspace(0, oc.size - 1, 5).round().astype(int)]
R = lib.X.iloc[rows]  # reflectance as a fraction, columns named by wavelength
print(lib)

# %%
# The preprocessing chain
# -----------------------
# Each transformer is an ordinary scikit-learn transformer. The derivative
# reads the wavelengths from the column names, so it is per nm even on this
# uneven axis.
A = Absorbance().fit_transform(R)  # log10(1/R)
A_snv = SNV().fit_transform(A)
d1 = SavitzkyGolay(window_length=11, polyorder=2, deriv=1).fit_transform(A)

# %%
# Four views of the same five soils
# ---------------------------------
# Absorbance rises with organic carbon (darker soils reflect less); SNV
# removes most of that overall offset, and the derivative keeps only the
# shape of the absorption features.
wl = lib.wavelengths
panels = [
    (R.to_numpy(), "reflectance (fraction)", "Raw reflectance R"),
    (A, "log10(1/R)", "Absorbance"),
    (A_snv, "SNV absorbance", "SNV: scatter removed"),
    (d1 * 1e3, "d log10(1/R) / dλ (×10⁻³ nm⁻¹)", "Savitzky-Golay 1st derivative"),
]
fig, axes = plt.subplots(2, 2, sharex=True, figsize=(9, 6), layout="constrained")
axes = axes.ravel()
colours = [f"C{i}" for i in range(len(rows))]
for ax, (values, ylabel, title) in zip(axes, panels):
    for k, (row, c) in enumerate(zip(values, colours)):
        ax.plot(wl, row, color=c, lw=1.0, label=f"OC {oc[rows[k]]:.2f} %")
    ax.set_title(title, fontsize="medium")
    ax.set_ylabel(ylabel)
for ax in axes[2:]:
    ax.set_xlabel("wavelength (nm)")
axes[0].legend(fontsize="small", title="SSP.460", title_fontsize="small")
plt.show()
