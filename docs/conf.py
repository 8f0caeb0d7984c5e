"""Sphinx configuration of the isicseg site."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import isicseg

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

project = "isicseg"
author = "isicseg developers"
copyright = "2026, isicseg developers"
release = isicseg.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.json",
]
html_theme = "furo"
html_title = f"isicseg {release}"
templates_path = ["_templates"]

autosummary_generate = True
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_type_aliases = {"ArrayLike": "ArrayLike"}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
myst_heading_anchors = 3

# Inventories for cross-links to Python, PyTorch, torchvision, NumPy, Pillow and pandas are
# kept in docs/_inventories (this build runs without internet); links point at the
# projects' real sites. docs/_inventories/make_inventories.py regenerates them.
_INV = str(HERE / "_inventories")
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", f"{_INV}/python.inv"),
    "torch": ("https://docs.pytorch.org/docs/stable", f"{_INV}/torch.inv"),
    "torchvision": ("https://docs.pytorch.org/vision/stable", f"{_INV}/torchvision.inv"),
    "numpy": ("https://numpy.org/doc/stable", f"{_INV}/numpy.inv"),
    "PIL": ("https://pillow.readthedocs.io/en/stable", f"{_INV}/PIL.inv"),
    "pandas": ("https://pandas.pydata.org/docs", f"{_INV}/pandas.inv"),
}
intersphinx_timeout = 1

nitpicky = True
nitpick_ignore_regex = [
    # type variables and private aliases that have no page of their own
    ("py:class", r"(isicseg\.registry\.)?T"),
    ("py:class", r"ArrayLike|NormLayer|Mode|Norm|Split|Diagnosis|Target|ImageSize"),
    ("py:class", r"isicseg\..*\.(ArrayLike|NormLayer|Mode|Norm|Split|Diagnosis|Target|ImageSize)"),
    ("py:class", r"(optional|callable|default.*)"),
    ("py:obj", r"isicseg\.registry\.T"),
    # not in the stored inventories of torch 2.x and Python
    ("py:class", r"torch\.optim\.lr_scheduler\.LRScheduler|logging\.Logger"),
    ("py:class", r"torch\.utils\.data\.(dataset\.)?(ConcatDataset|Subset|_T_co)"),
]

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples" / "gallery"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}
os.environ.setdefault("MPLBACKEND", "Agg")
