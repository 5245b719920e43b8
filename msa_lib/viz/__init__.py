"""Figures and widgets for the book's notebooks (matplotlib, ipywidgets).

One module per notebook topic; :mod:`msa_lib.viz.data` draws the data chapter's figures (label
distributions, lengths, feature heat maps, simulated vs real text, missingness patterns) and builds its
interactive explorer. Import the module you need, e.g. ``from msa_lib.viz import data as vdata``.
"""
