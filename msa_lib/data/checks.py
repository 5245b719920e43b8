"""Does a chapter apply to this data set? One clear error in the chapter's first data cell, not a KeyError later."""

from __future__ import annotations

from .dataset import MSADataset


class ChapterDoesNotApply(ValueError):
    """The data set is of a kind the chapter's method is not defined for (e.g. SDUMC on IEMOCAP)."""


def require_task(dataset: MSADataset, task: str, *, method: str, chapter: str | None = None, instead: str = "") -> None:
    """Raise :class:`ChapterDoesNotApply` unless ``dataset.task == task``.

    ``dataset.task`` is ``"regression"`` (sentiment scores: MOSI, MOSEI, CH-SIMS) or ``"classification"``
    (IEMOCAP's emotions). The message names the data set, the chapter, the method and where to go instead.
    """
    have = getattr(dataset, "task", "regression")
    if have != task:
        where = f"chapter {chapter} does not apply to {dataset.name}" if chapter else str(dataset.name)
        raise ChapterDoesNotApply(
            f"{where}: {method} is a {task} method and this data set "
            f"is a {have} task ({getattr(dataset, 'metric_dataset', '?')}: classes "
            f"{list(getattr(dataset, 'classes', ()) or ())}). {instead}".rstrip()
        )


def require_simulated_text(dataset: MSADataset, *, chapter: str, parameter: str = "SIMULATED_TEXT") -> None:
    """Raise :class:`ChapterDoesNotApply` when ``dataset`` has no ``text_sim`` (SDUMC's student-flow input)."""
    if not dataset.has_text_sim:
        raise ChapterDoesNotApply(
            f"chapter {chapter} needs text simulated from audio, and {dataset.name} has none: {parameter} = 'none' "
            f"switched the text simulator off. Set {parameter} = 'auto' (fits msa_lib's text simulator on the "
            f"train split, cached), or give a path to an .npz of simulated text, or a data set that has 'text_sim'."
        )
