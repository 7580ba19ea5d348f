"""Sphinx configuration of the dgno documentation (make docs; warnings are errors).

Sphinx with sphinx-gallery and numpydoc, as scikit-learn and neuraloperator: the API reference from the numpy-style
docstrings, the CLI reference from the argparse parsers (sphinx-argparse), the config keys from the schema
dataclasses (_ext/config_reference.py), and the tutorials as scripts executed at every build with their plots.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dgno  # noqa: E402

project = "dgno"
author = "The dgno developers"
copyright = "2026, the dgno developers"
release = dgno.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinxarg.ext",
    "sphinx_gallery.gen_gallery",
    "config_reference",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.json", "auto_examples/*.md5", "auto_examples/*.codeobj.json"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
# the results pages link to files of the repository (benchmarks/results/*.md, *.json) that are not pages of the site
suppress_warnings = ["myst.xref_missing"]

autodoc_typehints = "none"
autodoc_member_order = "bysource"
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples" / "gallery"),
    "gallery_dirs": str(HERE / "auto_examples"),
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "show_memory": False,
}

html_theme = "furo"
html_title = f"dgno {release}"


def _escape_shapes(app, what, name, obj, options, lines):
    """Shapes in the docstrings read ``(N, *grid_u)``: a star there is a splat, not reStructuredText emphasis."""
    import re

    for i, line in enumerate(lines):
        lines[i] = re.sub(r"(?<=[(\[, ])\*(?=[A-Za-z_])", r"\\*", line)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_shapes, priority=400)
