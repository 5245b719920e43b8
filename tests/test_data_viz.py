"""msa_lib.viz.data: the frame-status codes behind the missingness figures, and the figure builders."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from msa_lib.data import apply_condition, make_loader, synthetic_mosei  # noqa: E402
from msa_lib.viz import data as vdata  # noqa: E402


@pytest.fixture(scope="module")
def ds():
    return synthetic_mosei(seed=0, n_train=40, n_valid=20, n_test=20)


@pytest.fixture(scope="module")
def batch(ds):
    return next(iter(make_loader(ds["test"], 8)))


def test_frame_status_codes(batch):
    status = {name: k for k, name in enumerate(vdata.STATUS_NAMES)}
    mask = batch["audio_mask"].numpy()
    s = vdata.frame_status(batch, apply_condition(batch, "complete"), "audio")
    np.testing.assert_array_equal(s, np.where(mask, status["real"], status["padding"]))
    s = vdata.frame_status(batch, apply_condition(batch, "only_text"), "audio")
    np.testing.assert_array_equal(s, np.where(mask, status["modality missing"], status["padding"]))
    out = apply_condition(batch, "frame_missing_0.5", generator=torch.Generator().manual_seed(0))
    s = vdata.frame_status(batch, out, "audio")
    dropped = out["audio_frame_missing"].numpy()
    assert (s[dropped] == status["dropped frame"]).all()
    assert (s[mask & ~dropped] == status["real"]).all() and (s[~mask] == status["padding"]).all()
    s = vdata.frame_status(batch, apply_condition(batch, "text_missing"), "text")
    np.testing.assert_array_equal(s, np.where(batch["text_sim_mask"].numpy(), status["simulated text"], 0))


def test_figures_and_stats(ds, batch):
    fig, stats = vdata.plot_label_distribution(ds)
    assert stats["train"]["n"] == 40
    assert stats["test"]["zero_fraction"] == pytest.approx(float(np.mean(ds["test"].labels == 0)))
    fig2 = vdata.plot_sample_heatmaps(ds["train"], 0)
    assert len(fig2.axes) == 4  # text, audio, vision, text_sim
    fig3 = vdata.plot_condition_masks(batch, ["complete", "only_audio"])
    assert len(fig3.axes) == 6
    st = vdata.simulated_text_stats(ds, "test")
    assert st["score_text"].shape == (20,) and -1 <= st["corr_sim"] <= 1
    assert np.median(st["cos_same"]) > np.median(st["cos_other"])  # text_sim resembles its own text
    fig4 = vdata.show_condition(ds["test"], 1, "frame_missing", 0.5)
    assert len(fig4.axes) == 3
    plt.close("all")


def test_explorer_widget(ds):
    # live: an ipywidgets.interactive (needs a kernel)
    w = vdata.missingness_explorer(ds["test"], live=True)
    names = [c.description for c in w.children[:4]]
    assert names == ["sample", "condition", "missing rate", "seed"]
    assert w.children[0].max == 19
    assert set(w.children[1].options) >= {"complete", "text_missing", "only_text", "frame_missing"}
    # precomputed (the default): samples x the static conditions, switched in the browser
    box = vdata.missingness_explorer(ds["test"], samples=(0, 5, 99))
    assert [c.description for c in box.children[0].children] == ["sample", "condition"]
    assert box.controls["index"].options == (0, 5)  # 99 is not in the split
    assert len(box.views) == 2 * len(vdata.EXPLORER_STATIC_CONDITIONS)
    assert {s["condition"] for s in box.settings} >= {"text_missing", "only_text", "frame_missing_0.7"}
    plt.close("all")
