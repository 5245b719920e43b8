"""Training: the shared fit loop, evaluation, checkpoints and results files.

Method-specific trainers live beside the core: :mod:`msa_lib.training.sdumc` (the double-flow
self-distillation) and :mod:`msa_lib.training.corrkd` (teacher, student and distillation).
"""

from .checkpoints import (
    CHECKPOINT_DIR,
    CheckpointError,
    StaleCheckpointError,
    checkpoint_dir,
    checkpoint_stamp,
    fit_or_load,
    load_checkpoint,
    load_or_train,
    save_checkpoint,
    settings_key,
)
from .core import (
    FitConfig,
    FitResult,
    amp_autocast,
    count_parameters,
    default_predict,
    evaluate,
    fit,
    move_to_device,
    predict,
    seed_everything,
    select_device,
)
from .results import (
    full_history,
    full_run,
    run_summary,
    selected_epochs,
    load_predictions,
    load_results,
    prediction_key,
    predictions_path,
    quick_results_dir,
    result_row,
    results_dir,
    results_path,
    results_table,
    run_seeds,
    write_results,
    results_name,
)

__all__ = [
    "CHECKPOINT_DIR", "FitConfig", "FitResult", "amp_autocast", "count_parameters",
    "default_predict", "evaluate", "fit", "full_history", "full_run", "run_summary", "selected_epochs", "load_checkpoint", "load_or_train", "load_results",
    "move_to_device", "predict", "result_row", "results_dir", "results_path", "results_table",
    "run_seeds", "save_checkpoint", "seed_everything", "select_device", "settings_key",
    "write_results",
    "results_name", "CheckpointError", "StaleCheckpointError", "checkpoint_dir", "checkpoint_stamp", "fit_or_load",
    "load_predictions", "prediction_key", "predictions_path", "quick_results_dir",
]
