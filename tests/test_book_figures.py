"""The book's own figures and tables: architecture diagrams (msa_lib.viz.diagrams) and the results overview
(msa_lib.viz.results), which must show only numbers read from results files and say which files."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from msa_lib.training import result_row, write_results  # noqa: E402
from msa_lib.viz import diagrams  # noqa: E402
from msa_lib.viz import results as vres  # noqa: E402


def _texts(fig) -> str:
    return "\n".join([t.get_text() for ax in fig.axes for t in ax.texts]
                     + [ax.get_title(loc=loc) for ax in fig.axes for loc in ("left", "center")])


@pytest.mark.parametrize("name, expected", [
    ("sdumc_flow", ["UMCA", "7 unified-modality", "trimodal", "RnC head", "fusion weights"]),
    ("mia", ["Modality Imagination Autoencoder", "latent", "+ x_t"]),
    ("sdumc_double_flow", ["teacher flow", "student flow", "shared weights", "Rank-N-Contrast", "sg("]),
    ("corrkd", ["TEACHER (frozen)", "STUDENT", "SCD", "CPD", "RCD", "Modality Random"]),
])
def test_diagrams_show_the_architecture(name, expected):
    fig = diagrams.DIAGRAMS[name]()
    try:
        text = _texts(fig)
        for phrase in expected:
            assert phrase in text, f"{name}: diagram lacks {phrase!r}"
        assert len(fig.axes[0].patches) >= 5, f"{name}: too few boxes/arrows"
    finally:
        plt.close(fig)


def test_save_all_writes_valid_svg(tmp_path):
    paths = diagrams.save_all(tmp_path)
    assert {p.name for p in paths} == {f"{n}.svg" for n in diagrams.DIAGRAMS}
    for path in paths:
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg"), f"{path.name} is not an SVG document"
        assert path.stat().st_size > 5_000


# ------------------------------------------------------------------------------------------ results overview
METRICS = {"Has0_acc_2": 0.7, "Has0_F1_score": 0.7, "Non0_acc_2": 0.8, "Non0_F1_score": 0.8,
           "Mult_acc_5": 0.4, "Mult_acc_7": 0.35, "MAE": 0.5, "Corr": 0.6}


def _rows(mae_by_seed):
    return [result_row("sdumc", "text_missing", seed, {**METRICS, "MAE": mae}) for seed, mae in mae_by_seed.items()]


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("MSA_QUICK_RESULTS_DIR", raising=False)  # quick files under tmp_path/quick
    return tmp_path


def test_missing_results_are_reported_not_invented(results_dir):
    src = vres.load_for_book("missing_text")
    assert not src.available
    with pytest.raises(FileNotFoundError, match="python -m msa_lib.training.grid missing_text"):
        _ = src.rows
    banner = vres.provenance_banner([src])
    assert "Not run yet" in banner
    assert vres.provenance_table([src]).loc["missing_text", "mode"] == "not run"


def test_quick_file_is_used_with_a_banner_and_full_file_wins(results_dir):
    write_results("missing_text", _rows({0: 0.5, 1: 0.7}), quick=True, seeds=[0, 1], dataset="synthetic_mosei",
                  command="papermill ... -p QUICK True")
    src = vres.load_for_book("missing_text")
    assert src.available and src.quick
    assert "Quick-mode numbers" in vres.provenance_banner([src])
    table = vres.provenance_table([src])
    assert table.loc["missing_text", "mode"] == "quick"
    assert table.loc["missing_text", "command"] == "papermill ... -p QUICK True"

    write_results("missing_text", _rows({0: 0.4, 1: 0.6, 2: 0.5}), quick=False, seeds=[0, 1, 2],
                  dataset="synthetic_mosei", command="papermill ... -p QUICK False")
    src = vres.load_for_book("missing_text")
    assert src.available and not src.quick
    assert vres.provenance_banner([src]) is None
    assert vres.provenance_table([src]).loc["missing_text", "seeds"] == "0, 1, 2"


def test_headline_table_is_the_mean_and_std_of_the_rows(results_dir):
    write_results("missing_text", _rows({0: 0.5, 1: 0.7}), quick=True, seeds=[0, 1], dataset="synthetic_mosei")
    src = vres.load_for_book("missing_text")
    table = vres.headline_table(src, digits=3)
    assert table.loc[("sdumc", "text_missing"), "MAE"] == "0.600 ± 0.141"  # sample std (ddof=1)
    assert list(table.columns) == list(vres.HEADLINE_METRICS)
    with pytest.raises(KeyError, match="unknown methods"):
        vres.headline_table(src, methods=["no_such_method"])


def test_a_stale_full_file_is_flagged_in_red_with_its_commit_and_reasons(results_dir):
    with pytest.warns(UserWarning, match="will call it stale"):
        write_results("missing_text", _rows({0: 0.4, 1: 0.6}), quick=False, seeds=[0, 1], dataset="synthetic_mosei",
                      command="papermill x")
    src = vres.load_for_book("missing_text")
    assert "rows of 'sdumc' have no recorded config" in src.stale
    banner = vres.stale_banner([src])
    assert banner.startswith("```{danger} Stale results") and "`missing_text`" in banner
    assert src.data["git_commit"][:10] in banner and "Re-make it: `python -m msa_lib.training.grid missing_text" in banner
    table = vres.provenance_table([src])
    assert table.loc["missing_text", "status"] == "STALE"
    assert table.loc["missing_text", "commit"].startswith(src.data["git_commit"][:10])
    # a quick file is never "stale" (it is flagged as quick instead), and no stale file means no banner
    write_results("corrkd", _rows({0: 0.5}), quick=True, seeds=[0], dataset="synthetic_mosei")
    quick = vres.load_for_book("corrkd")
    assert quick.stale == [] and vres.stale_banner([quick]) is None


def test_selected_epochs_and_run_summary_are_read_from_the_file(results_dir):
    """What a chapter says about how a run ended comes from the file: the recorded selected epoch (a
    classification run *maximises* its score, so the history's lowest score would be the wrong epoch), the budget
    from the recorded config, and the per-epoch histories."""
    from msa_lib.training import FitResult, full_history, load_results, run_summary, selected_epochs

    def fit(scores, best):
        return FitResult(best_epoch=best, best_score=scores[best - 1], best_valid={}, stopped_early=False,
                         history=[{"epoch": e + 1, "valid_score": v, "seconds": 2.0} for e, v in enumerate(scores)])

    write_results("missing_text", _rows({0: 0.4, 1: 0.5}), quick=False, seeds=[0, 1], dataset="synthetic_mosei",
                  configs={"sdumc": {"epochs": 3}}, command="run it",
                  histories={("sdumc", 0): fit([0.9, 0.8, 0.7], 3), ("sdumc", 1): fit([0.5, 0.6, 0.7], 3)})
    full = load_results("missing_text")
    assert selected_epochs(full) == {"sdumc/0": (3, 3), "sdumc/1": (3, 3)}  # recorded, not the lowest score (1)
    assert [h["valid_score"] for h in full_history(full, "sdumc", 1)] == [0.5, 0.6, 0.7]
    text = run_summary(full)
    assert "2 of the 2 trained models selected the last epoch" in text and "12 s of model time" in text
    del full["selected_epochs"]  # a file made before epochs were recorded: the lowest score, as regression selects
    assert selected_epochs(full) == {"sdumc/0": (3, 3), "sdumc/1": (1, 3)}
