"""msa_lib.viz.explorer: explorers whose views are precomputed (they work in the static book, switched by
``jslink`` in the browser) or live (``ipywidgets.interactive``), and the chapters' explorers built on it."""

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from msa_lib.viz import explorer as vex  # noqa: E402


def _figure(a, b="x"):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, a])
    ax.set_title(f"{a} {b}")
    return fig


def _links(box):
    return {(link.source[0].model_id, link.source[1], link.target[0].model_id, link.target[1])
            for link in box.links}


def test_precomputed_views_cover_the_product_grid():
    box = vex.explorer(_figure, {"a": [1, 2, 3], "b": ["x", "y"]})
    assert isinstance(box, vex.precomputed_explorer_class()) and isinstance(box, widgets.VBox)
    assert vex.DOM_CLASS in box._dom_classes
    assert box.settings == [{"a": a, "b": b} for a in (1, 2, 3) for b in ("x", "y")]
    assert vex.grid_size({"a": [1, 2, 3], "b": ["x", "y"]}) == len(box.views) == 6
    # every view is a PNG image, and they differ (each drawn from its own setting)
    assert all(isinstance(v, widgets.Image) and v.format == "png" for v in box.views)
    assert len({bytes(v.value) for v in box.views}) == 6
    for v in box.views:
        Image.open(io.BytesIO(bytes(v.value))).verify()
    # three numbers: a slider; two short labels: toggle buttons
    assert isinstance(box.controls["a"], widgets.SelectionSlider)
    assert isinstance(box.controls["b"], widgets.ToggleButtons)
    assert box.children[0].children == (box.controls["a"], box.controls["b"])
    # the outer stack follows control a; each inner stack follows control b, all in the browser (jslink)
    outer = box.stack
    assert box.children[1] is outer and len(outer.children) == 3
    assert all(isinstance(s, widgets.Stack) and len(s.children) == 2 for s in outer.children)
    assert outer.children[2].children[1] is box.views[5]
    assert all(type(link).__name__ == "Link" for link in box.links)
    expected = {(box.controls["a"].model_id, "index", outer.model_id, "selected_index")}
    expected |= {(box.controls["b"].model_id, "index", s.model_id, "selected_index") for s in outer.children}
    assert _links(box) == expected
    # the figures were closed after drawing (nothing left for the inline backend to show twice)
    assert plt.get_fignums() == []


def test_labels_widgets_html_and_the_palette():
    dropdown = widgets.Dropdown(options=[("one", 1), ("two", 2)], value=2, description="pick")
    box = vex.explorer(lambda n, s: f"<p>{n}{s}</p>", {"n": dropdown, "s": {"A": "a", "B": "b", "C": "c"}})
    assert box.controls["n"] is dropdown
    assert dropdown.index == 1 and box.stack.selected_index == 1  # a control's own value is kept
    assert isinstance(box.controls["s"], widgets.ToggleButtons)
    assert box.controls["s"].get_state()["_options_labels"] == ("A", "B", "C")
    assert [v.value for v in box.views] == ["<p>1a</p>", "<p>1b</p>", "<p>1c</p>",
                                             "<p>2a</p>", "<p>2b</p>", "<p>2c</p>"]
    # many labels: a drop-down
    box = vex.explorer(lambda k: f"{k}", {"k": ["alpha", "beta", "gamma", "delta"]})
    assert isinstance(box.controls["k"], widgets.Dropdown) and len(box.views) == 4
    # a palette PNG is smaller than the full-colour one
    fig = _figure(1)
    full, small = vex.figure_png(fig, colors=None), vex.figure_png(fig)
    plt.close(fig)
    assert len(small) <= len(full)
    assert Image.open(io.BytesIO(small)).mode in ("P", "RGBA", "RGB")


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        vex.explorer(_figure, {})
    with pytest.raises(ValueError, match="no values"):
        vex.explorer(_figure, {"a": []})
    with pytest.raises(TypeError, match="must return"):
        vex.explorer(lambda a: 3.5, {"a": [1, 2]})


def test_live_mode_is_interactive():
    calls = []

    def render(a, b="x"):
        calls.append((a, b))
        return _figure(a, b)

    w = vex.explorer(render, {"a": [1, 2, 3], "b": ["x", "y"]}, live=True)
    assert isinstance(w, widgets.interactive)
    assert [c.description for c in w.children[:2]] == ["a", "b"]
    assert calls == [(1, "x")]  # interactive draws the first setting at once
    w.children[1].value = "y"
    assert calls[-1] == (1, "y")
    # live controls of one's own, no grid
    w = vex.explorer(render, None, live=True, live_controls={"a": widgets.IntSlider(value=4, max=9)})
    assert calls[-1] == (4, "x")
    plt.close("all")


def test_ipywidgets_7_gets_the_live_explorer(monkeypatch):
    """ipywidgets 7 (Colab's preinstalled version, kept by msa_lib) has no Stack: the live explorer, which a
    kernel there answers, instead of an error. (Checked once by hand in a venv with ipywidgets 7.7.1.)"""
    monkeypatch.delattr(widgets, "Stack")
    w = vex.explorer(_figure, {"a": [1, 2, 3]})
    assert isinstance(w, widgets.interactive)
    plt.close("all")


def test_chapter_05_widget():
    # chapter 01's explorer: tests/test_data_viz.py; chapter 02's needs a model: its notebook
    from msa_lib.training import result_row
    from msa_lib.viz import corrkd as vk

    rows = [result_row(m, f"frame_missing_{r}", s, {"Non0_F1_score": 0.8 - r / (1 + k) + s / 100, "MAE": 0.5 + r})
            for k, m in enumerate(["teacher", "corrkd"]) for r in (0.0, 0.5) for s in (0, 1)]
    box = vk.missing_rate_widget(rows, metrics=["Non0_F1_score", "MAE"])
    assert list(box.controls) == ["metric"] and len(box.views) == 2
    live = vk.missing_rate_widget(rows, metrics=["Non0_F1_score", "MAE"], live=True)
    assert [c.description for c in live.children[:2]] == ["metric", "methods"]
    plt.close("all")
