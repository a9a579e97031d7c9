"""The example gallery (``examples/``, built by sphinx-gallery into the docs).

* Every example is a sphinx-gallery script: a module docstring that opens
  with an reST title, and text cells (``# %%``) between the code.
* The docs build runs every script (``filename_pattern`` in docs/conf.py);
  the slow suite runs them here the same way, from the ``examples/`` folder,
  so that a broken example shows up without building the docs.
"""

import ast
import importlib.util
import os
import re
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
# Examples that read instrument files need the readers of the opus extra.
_NEEDS = {"plot_instrument_files_to_localised_model.py": "brukeropus"}


def _ids(paths):
    return [p.name for p in paths]


def test_examples_are_found():
    assert len(SCRIPTS) >= 4
    assert (EXAMPLES / "GALLERY_HEADER.rst").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=_ids(SCRIPTS))
def test_example_is_a_gallery_script(script):
    text = script.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text), clean=False)
    assert doc, f"{script.name} has no module docstring"
    lines = doc.strip("\n").splitlines()
    # An over- and underlined title, the rules at least as long as the title.
    assert len(lines) >= 3 and re.fullmatch(r"=+", lines[0]) and lines[2] == lines[0], (
        f"{script.name}: the docstring must open with an '=' over- and underlined title")
    assert len(lines[0]) >= len(lines[1].rstrip()), f"{script.name}: title rule too short"
    assert re.search(r"^# %%\n# \S", text, flags=re.M), (
        f"{script.name} has no text cell ('# %%' followed by comment lines)")


def test_docs_build_runs_every_example():
    conf = (EXAMPLES.parent / "docs" / "conf.py").read_text(encoding="utf-8")
    pattern = re.search(r'"filename_pattern":\s*r"([^"]+)"', conf).group(1)
    skipped = [p.name for p in SCRIPTS if not re.search(pattern, str(p))]
    assert skipped == []


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=_ids(SCRIPTS))
def test_example_runs(script, monkeypatch):
    needed = _NEEDS.get(script.name)
    if needed and importlib.util.find_spec(needed) is None:
        pytest.skip(f"{script.name} needs {needed}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = set(os.listdir(EXAMPLES))
    # sphinx-gallery runs each example from the examples folder.
    monkeypatch.chdir(EXAMPLES)
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        plt.close("all")
    assert set(os.listdir(EXAMPLES)) == before, f"{script.name} wrote into examples/"
