"""A study's result as terminal text: the table of means ± std, then paper / here / verdict."""

from __future__ import annotations

from workbench.core.metrics import metric as metric_spec
from workbench.studies.core import StudyResult


def study_text(result: StudyResult) -> str:
    study, verdict = result.study, result.verdict
    lines = [f"{study.title} ({study.reference})",
             f"{len(result.seeds)} seed{'s' * (len(result.seeds) > 1)}, each its own start and split"
             + (", quick settings" if result.quick else "")]
    if study.note:
        lines.append(f"note: {study.note}")
    width = max(len(study.x_label), 12) + 2
    for key in study.metrics:
        spec = metric_spec(key)
        arms = result.arms()
        lines += ["", f"{spec.label}, mean ± std", f"{study.x_label:<{width}}" + "".join(f"{a[:22]:>24}" for a in arms)]
        for x in result.xs():
            row = f"{str(x):<{width}}"
            for arm in arms:
                cell = next((c for c in result.cells if c.x == x and c.arm == arm and c.metric == key), None)
                row += f"{_cell(cell, spec):>24}"
            lines.append(row)
    holds = {True: "yes", False: "no", None: "not shown here"}[verdict.holds]
    lines += ["", f"the paper:        {verdict.paper}", f"measured here:    {verdict.measured}",
              f"claim holds here: {holds}: {verdict.reason}"]
    return "\n".join(lines)


def _cell(cell, spec) -> str:
    if cell is None:
        return ""
    if cell.mean is None:
        reached = sum(v is not None for v in cell.values)
        return f"- ({reached}/{len(cell.values)} reached)" if reached else "-"
    text = spec.format(cell.mean)
    if cell.std:
        text += f" ± {spec.format(cell.std)}" if not spec.accuracy else f" ± {100 * cell.std:.1f}"
    return text
