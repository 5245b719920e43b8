"""Explorers that work in the static book as well as in a running notebook.

An ``ipywidgets.interactive`` explorer calls Python every time a control moves. In JupyterLab or Colab a
kernel answers; in the rendered book (static HTML) nothing does, and such an explorer shows its first
view and ignores its controls. :func:`explorer` therefore has two modes:

* **precomputed** (the default): every view of a small grid of settings is drawn once, when the cell
  runs, into ipywidgets (an ``Image`` per matplotlib figure, an ``HTML`` per HTML view) inside nested
  ``Stack`` widgets; each control's ``index`` is tied to its stack's ``selected_index`` with
  ``ipywidgets.jslink``, a link the browser itself keeps. The book's build saves the state of every
  widget into the executed notebook (nbclient's ``store_widget_state``), myst-nb writes that state into
  the page, and the page's widget manager switches views with no kernel at all. The same widget works
  in JupyterLab and Colab.
* **live** (``live=True``): the ``interactive`` explorer, which redraws any setting, including those
  outside the grid, but only with a kernel behind it.

With ipywidgets 7, which has no ``Stack`` (Colab's preinstalled version, kept on purpose: upgrading it
there breaks Colab's widget rendering), :func:`explorer` gives the live explorer: a kernel is running
wherever ipywidgets 7 is, and the static book is built with ipywidgets 8 (``constraints.txt``).

Python cannot tell whether its output will be read live or in a static page (the book's build runs a
real kernel too), so the book's chapters always show the precomputed explorer, which works everywhere,
and give the live one in a second cell for readers who run the notebook.
"""

from __future__ import annotations

import functools
import io
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["DOM_CLASS", "explorer", "figure_png", "grid_size", "precomputed_explorer_class"]

#: CSS class of a precomputed explorer's element in the page (the book's browser test looks for it)
DOM_CLASS = "msa-explorer"


def figure_png(fig, dpi: int = 72, colors: int | None = 128, tight: bool = True) -> bytes:
    """PNG bytes of a matplotlib figure; with ``tight``, cropped to what it draws, as the inline backend
    shows it (``bbox_inches="tight"``, which draws the figure twice: ``tight=False`` is faster, for
    figures whose titles and legends lie inside the figure).

    With ``colors``, the image is reduced to a palette of that many colours (Pillow's median cut), which
    makes a typical figure three times smaller with no visible change; the smaller file is kept.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None, facecolor="white")
    png = buf.getvalue()
    if not colors:
        return png
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        median_cut = getattr(getattr(Image, "Quantize", Image), "MEDIANCUT", 0)  # Pillow < 9.1: Image.MEDIANCUT
        quantized = im.convert("RGB").quantize(colors=colors, method=median_cut)
    small = io.BytesIO()
    quantized.save(small, format="PNG", optimize=True)
    return small.getvalue() if small.tell() < len(png) else png


def _options(spec) -> list[tuple[str, Any]]:
    """``(label, value)`` pairs of a grid entry: a selection widget, or values / ``(label, value)``."""
    if _is_selection_widget(spec):
        return list(zip(spec._options_labels, spec._options_values))
    return _pairs(spec)


def _pairs(options) -> list[tuple[str, Any]]:
    if isinstance(options, Mapping):
        return [(str(k), v) for k, v in options.items()]
    out = []
    for o in options:
        if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str):
            out.append(o)
        else:
            out.append((str(o), o))
    return out


def _is_selection_widget(obj) -> bool:
    """A single-selection widget (``Dropdown``, ``ToggleButtons``, ``SelectionSlider``, ``Select``...)."""
    import ipywidgets as widgets

    return isinstance(obj, widgets.widget_selection._Selection)


def _control(name: str, spec):
    """The control of one grid entry: the widget given, or one chosen from the values."""
    import ipywidgets as widgets

    if _is_selection_widget(spec):
        return spec
    pairs = _pairs(spec)
    if not pairs:
        raise ValueError(f"explorer: the grid entry '{name}' has no values")
    values = [v for _, v in pairs]
    common = {"options": pairs, "description": name, "style": {"description_width": "initial"}}
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(values) > 2:
        return widgets.SelectionSlider(**common, continuous_update=True)
    if len(values) <= 3 and sum(len(label) for label, _ in pairs) <= 30:
        return widgets.ToggleButtons(**common)
    return widgets.Dropdown(**common)


def _image_layout():
    """Scaled down to the page's width, without the widgets' default margin (which, added to a full-width
    image, would give its box a horizontal scroll bar)."""
    import ipywidgets as widgets

    return widgets.Layout(max_width="100%", margin="0")


def _view(obj, dpi: int, colors: int | None, tight: bool = True):
    """One precomputed view as a widget: a figure becomes an ``Image``, HTML an ``HTML`` widget."""
    import ipywidgets as widgets

    if hasattr(obj, "savefig"):  # a matplotlib Figure
        import matplotlib.pyplot as plt

        png = figure_png(obj, dpi=dpi, colors=colors, tight=tight)
        plt.close(obj)
        return widgets.Image(value=png, format="png", layout=_image_layout())
    if isinstance(obj, (bytes, bytearray)) and bytes(obj[:8]) == b"\x89PNG\r\n\x1a\n":
        return widgets.Image(value=bytes(obj), format="png", layout=_image_layout())
    if isinstance(obj, str):
        return widgets.HTML(value=obj)
    if hasattr(obj, "_repr_html_"):
        return widgets.HTML(value=obj._repr_html_())
    raise TypeError(
        "explorer: render() must return a matplotlib Figure, PNG bytes, an HTML string or an object with "
        f"_repr_html_, not {type(obj).__name__}"
    )


@functools.cache
def precomputed_explorer_class():
    """The class of the precomputed explorers (defined on first use: ipywidgets is imported lazily)."""
    import ipywidgets as widgets

    class PrecomputedExplorer(widgets.VBox):
        """A ``VBox`` of controls above nested ``Stack`` widgets of precomputed views.

        Attributes: ``controls`` (name → control widget), ``settings`` (every grid point, a dict of
        name → value, in the order of ``views``), ``views`` (one widget per setting), ``stack`` (the
        outermost ``Stack``) and ``links`` (the ``jslink`` objects).
        """

    return PrecomputedExplorer


def explorer(
    render: Callable[..., Any],
    grid: Mapping[str, Any] | None,
    *,
    live: bool = False,
    live_controls: Mapping[str, Any] | None = None,
    dpi: int = 72,
    colors: int | None = 128,
    tight: bool = True,
):
    """An explorer of ``render`` over ``grid``, precomputed (works in the static book) or live.

    Parameters
    ----------
    render:
        ``render(**setting)`` draws one view and returns it: a matplotlib ``Figure`` (saved as a PNG at
        ``dpi``, then closed), PNG bytes, an HTML string, or an object with ``_repr_html_`` (a
        DataFrame). It must not call ``plt.show()``.
    grid:
        name → the values of that keyword: a list of values, a list of ``(label, value)`` pairs, a
        ``{label: value}`` dict, or a ready selection widget (``Dropdown``, ``ToggleButtons``,
        ``SelectionSlider``, ``RadioButtons``, ``Select``) whose options are used. Without a widget, the
        control is a ``SelectionSlider`` for three or more numbers, ``ToggleButtons`` for up to three
        short labels, a ``Dropdown`` otherwise. The explorer precomputes every point of the product of
        the entries, so keep it small (tens of views; each PNG is ~10 kB at 72 dpi).
    live:
        ``False`` (default): the precomputed explorer. ``True``: an ``ipywidgets.interactive`` that calls
        ``render`` at each change and shows its result; it needs a running kernel (JupyterLab, Colab), and
        in a static page shows its first view only.
    live_controls:
        the live explorer's controls (name → widget or any ``interactive`` abbreviation, e.g. an
        ``IntSlider`` over every sample); by default, controls built from ``grid`` (which may then be
        ``None``).
    dpi, colors, tight:
        resolution of the precomputed figures, size of their colour palette (``None``: full colour) and
        whether to crop them to what they draw; see :func:`figure_png`.

    Returns
    -------
    The precomputed explorer, a ``PrecomputedExplorer`` (a ``VBox``: the controls in a row, then
    the views), or with ``live=True`` the ``ipywidgets.interactive`` widget. Display either as the last
    expression of a cell.

    Why precomputed by default: in a static page nothing can call Python, and a Python function cannot
    tell whether its output will be read live or in the rendered book, so the widget that works in both
    is the default; the live explorer is an extra for readers who run the notebook.
    """
    import ipywidgets as widgets

    if live and live_controls:
        return _live(render, grid or {}, live_controls)
    if not grid:
        raise ValueError("explorer: the grid is empty")
    if not hasattr(widgets, "Stack"):
        # ipywidgets 7 (Colab's preinstalled version, which msa_lib keeps: see README, "On Colab") has no
        # Stack; wherever it is, a kernel is running, so the live explorer is the one that works.
        live = True
    if live:
        return _live(render, grid, live_controls)
    names = list(grid)
    options = {n: _options(grid[n]) for n in names}
    for n, opts in options.items():
        if not opts:
            raise ValueError(f"explorer: the grid entry '{n}' has no values")
    controls = {n: _control(n, grid[n]) for n in names}
    start = {n: controls[n].index or 0 for n in names}  # a control given at another value keeps it

    settings: list[dict[str, Any]] = []
    views: list = []
    for combo in itertools.product(*(range(len(options[n])) for n in names)):
        setting = {n: options[n][i][1] for n, i in zip(names, combo)}
        settings.append(setting)
        views.append(_view(render(**setting), dpi, colors, tight))

    links = []
    counter = itertools.count()

    def nest(level: int):
        if level == len(names):
            return views[next(counter)]
        children = [nest(level + 1) for _ in options[names[level]]]
        stack = widgets.Stack(children=children, selected_index=start[names[level]])
        links.append(widgets.jslink((controls[names[level]], "index"), (stack, "selected_index")))
        return stack

    stack = nest(0)
    box = precomputed_explorer_class()(children=[widgets.HBox(list(controls.values())), stack])
    box.add_class(DOM_CLASS)
    box.controls, box.settings, box.views, box.stack, box.links = controls, settings, views, stack, links
    return box


def _live(render, grid, live_controls):
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import HTML, display

    if live_controls is None:
        live_controls = {}
        for n, spec in grid.items():
            live_controls[n] = _control(n, spec)

    def show(**setting):
        obj = render(**setting)
        if hasattr(obj, "savefig"):
            plt.show()
            plt.close(obj)
        elif isinstance(obj, str):
            display(HTML(obj))
        elif obj is not None:
            display(obj)

    return widgets.interactive(show, **live_controls)


def grid_size(grid: Mapping[str, Sequence]) -> int:
    """How many views a precomputed explorer of ``grid`` draws (the product of the entries' sizes)."""
    size = 1
    for spec in grid.values():
        size *= len(_options(spec))
    return size
