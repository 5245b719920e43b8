"""msa_lib: multimodal sentiment analysis when modalities are missing.

A small library behind the tutorial book: data loaders and missing-modality protocols
(:mod:`msa_lib.data`), MMSA-exact metrics (:mod:`msa_lib.metrics`), the SDUMC and CorrKD
models (:mod:`msa_lib.models`) and losses (:mod:`msa_lib.losses`), and training loops
(:mod:`msa_lib.training`).
"""

__version__ = "0.1.0"

#: The repository the notebooks' Colab badges and install cells point at (set in one place;
#: ``scripts/sync_repo_url.py`` rewrites the notebooks from ``_config.yml``).
REPO_URL = "https://github.com/msa-missing/msa-missing-book"
