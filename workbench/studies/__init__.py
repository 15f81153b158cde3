"""Classic transfer-learning results, reproduced on a laptop with seeds and spread (`workbench reproduce`)."""

from workbench.studies.catalogue import STUDIES
from workbench.studies.core import Study, StudyResult, run_study

__all__ = ["STUDIES", "Study", "StudyResult", "run_study"]
