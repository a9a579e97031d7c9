"""Sphinx configuration for sklearn-soilspec."""

import os
import re
import sys
from pathlib import Path

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
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Parameter types such as "array-like of shape (n_samples,)" are prose, not references.
numpydoc_xref_param_type = False

intersphinx_mapping = {}

templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples"]
nitpicky = False

# The theme of scikit-learn's own documentation. The project gives no
# repository URL in pyproject.toml, so there is no GitHub icon to show.
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-soilspec {release}"
html_theme_options = {
    "logo": {"text": "sklearn-soilspec"},
    "navbar_align": "left",
    "header_links_before_dropdown": 5,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# Example pages are long scripts: the left sidebar only takes width from them.
html_sidebars = {"auto_examples/*": []}
html_static_path = ["_static"] if (Path(__file__).parent / "_static").is_dir() else []

# The examples are run at every build: their figures and printed output are
# made here, and each page offers the script as .py and as a notebook.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Every script of examples/ is run, not only those named plot_*.
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "image_scrapers": ("matplotlib",),
    "download_all_examples": True,
    "within_subsection_order": "FileNameSortKey",
    # Names in the example code link to their page of the API reference.
    "doc_module": ("sklearn_soilspec",),
    "reference_url": {"sklearn_soilspec": None},
    "backreferences_dir": "generated/backreferences",
    "remove_config_comments": True,
    "min_reported_time": 1,
}

# scikit-learn adds set_fit_request & co. to every estimator class; their
# docstrings point into scikit-learn's own glossary and say nothing specific.
_SKIPPED_MEMBERS = re.compile(r"^set_\w+_request$")

# "ndarray of shape (n_features_in_,)": a trailing underscore before a comma or
# parenthesis is reST for a hyperlink reference; escape it in parameter lines.
_PARAM_LINE = re.compile(r"^(\s*\*\*[^*]+\*\* : )(.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(\w)_(?=[,)\s]|$)")


# Methods inherited from the package's private bases (fit, transform,
# get_feature_names_out) are documented; those from scikit-learn, torch and
# skorch (get_params, set_output, nn.Module's API) are theirs to document.
_FOREIGN = ("sklearn.", "torch.", "skorch.", "builtins")


def _skip_member(app, what, name, obj, skip, options):
    if _SKIPPED_MEMBERS.match(name):
        return True
    module = getattr(obj, "__module__", None) or ""
    if module.startswith(_FOREIGN):
        return True
    return None


def _escape_underscores(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        m = _PARAM_LINE.match(line)
        if m:
            lines[i] = m.group(1) + _TRAILING_UNDERSCORE.sub(r"\1\\_", m.group(2))


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    # After numpydoc (priority 500) has turned sections into parameter lists.
    app.connect("autodoc-process-docstring", _escape_underscores, priority=600)
