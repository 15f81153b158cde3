"""The studies: what each paper varied and claimed, scaled to a 2-core laptop.

Full mode is sized to finish within about 15 minutes per study on 2 CPU cores with 3 seeds; quick
mode (CI, a first look) keeps every setting's kind but shrinks data, images and epochs. The studies themselves
live in `when_transfer_helps` and `what_transfers`; this is their list, in the order `workbench reproduce` shows.
"""

from __future__ import annotations

from workbench.studies.what_transfers import ADABN, NEYSHABUR, PREPROCESSING, YOSINSKI
from workbench.studies.when_transfer_helps import CROSSOVER, HE2019, KORNBLITH

STUDIES = {study.name: study for study in (YOSINSKI, CROSSOVER, HE2019, KORNBLITH, NEYSHABUR, ADABN,
                                              PREPROCESSING)}
