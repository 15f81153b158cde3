"""Classic transfer-learning results, reproduced on a laptop with seeds and spread (`workbench reproduce`).

`catalogue` holds the studies, `core` runs one over seeds and judges it, `report` and `plots` show it.
"""

from __future__ import annotations

from workbench import lazy_exports

_PUBLIC = {"STUDIES": "workbench.studies.catalogue:STUDIES",
           **{name: f"workbench.studies.core:{name}" for name in ("Study", "StudyResult", "run_study")}}
__all__ = sorted(_PUBLIC)

__getattr__ = lazy_exports(_PUBLIC, globals(), __name__)
