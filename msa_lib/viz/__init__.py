"""Figures and widgets for the book's notebooks (matplotlib, ipywidgets).

One module per notebook topic; :mod:`msa_lib.viz.data` draws the data chapter's figures (label
distributions, lengths, feature heat maps, simulated vs real text, missingness patterns) and builds its
interactive explorer. Import the module you need, e.g. ``from msa_lib.viz import data as vdata``.

:mod:`msa_lib.viz.explorer` builds the chapters' explorers: by default every view of a small grid of
settings is drawn when the cell runs and the controls switch between them in the browser (so they work
in the static book too); ``live=True`` gives the ``ipywidgets.interactive`` version for a kernel.
"""


def literal(text) -> str:
    r"""``text`` as matplotlib should show it, letter for letter.

    Matplotlib reads a pair of ``$`` as mathtext, and MMSA's utterance ids contain them
    (``03bSnISJMiM$_$11``): an id in a title would be parsed as math (and ``$_$`` fails to parse).
    Every id or data-set name that goes into a figure passes through here: ``$`` becomes ``\$``.
    """
    return str(text).replace("$", r"\$")
