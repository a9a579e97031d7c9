"""Sphinx configuration for sklearn-soilspec."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("MPLBACKEND", "Agg")

from sklearn_soilspec import __version__  # noqa: E402

project = "sklearn-soilspec"
author = "sklearn-soilspec developers"
copyright = "2026, sklearn-soilspec developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Parameter types such as "array-like of shape (n_samples,)" are prose, not references.
numpydoc_xref_param_type = False

intersphinx_mapping = {}

templates_path = []
exclude_patterns = ["_build", "generated/*.examples"]
html_theme = "alabaster"
html_static_path = []
nitpicky = False
