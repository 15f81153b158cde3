"""Plain-text renderings of records for the terminal: the side-by-side table and run lists."""

from __future__ import annotations

from workbench.core.metrics import BY_KEY, METRICS, percent, seconds
from workbench.data.loading import dataset_label
from workbench.spec.options import OPTIONS, option

NOT_RUN = "not run (stopped)"  # a run its comparison never started: stopped (Stop, Ctrl-C) before it


def missing_text(summary: dict, role: str) -> str:
    """What a table or chart says for ``role`` where its comparison has no such run: 'not run (stopped)'."""
    other = "scratch" if role == "transfer" else "transfer"
    status = (summary.get(other) or {}).get("status")
    if status == "running":
        return "not started yet"
    return f"not run ({other} failed)" if status == "failed" else NOT_RUN


def verdict(transfer: dict | None, scratch: dict | None) -> str:
    """One sentence on who reached the target accuracy first, with the ratio written out; with one run
    missing (a comparison stopped before it), what the other did and that there is no verdict."""
    if not transfer or not scratch:
        summary = {"transfer": transfer, "scratch": scratch}
        ran = [role for role in summary if summary[role]]
        if not ran:
            return "neither run ran (stopped)"
        role, missing = ran[0], "scratch" if ran[0] == "transfer" else "transfer"
        run, text = summary[role], missing_text(summary, missing)
        target = f"{100 * run.get('target_acc', 0.9):.0f}%"
        reached = run.get("time_to_target_s")
        did = f"reached {target} val acc in {reached:.1f} s" if reached is not None else f"did not reach {target} val acc"
        return f"{role} {did}; {missing} {text}, so no verdict"
    target = f"{100 * transfer['target_acc']:.0f}%"
    t, s = transfer.get("time_to_target_s"), scratch.get("time_to_target_s")
    if t is not None and s is not None:
        faster, slower, who = (t, s, "transfer") if t <= s else (s, t, "scratch")
        return f"{who} reached {target} val acc {slower / max(faster, 1e-9):.1f}x sooner ({faster:.1f} s vs {slower:.1f} s)"
    if t is not None:
        return f"transfer reached {target} val acc in {t:.1f} s; scratch never did in {scratch['wall_s']:.1f} s"
    if s is not None:
        return f"scratch reached {target} val acc in {s:.1f} s; transfer never did in {transfer['wall_s']:.1f} s"
    return f"neither run reached {target} val acc"


def with_spread(summary: dict, key: str) -> str:
    """A number of a summary as the metrics table writes it, with '± spread' when seeds gave one."""
    if not summary:
        return NOT_RUN
    spec, spread = BY_KEY[key], summary.get(f"{key}_std")
    if not spread:
        return spec.format(summary.get(key))
    return f"{spec.format(summary.get(key))} ± {100 * spread:.1f}" if spec.accuracy else \
        f"{spec.format(summary.get(key))} ± {spec.format(spread)}"


def comparison_rows(summary: dict) -> list[tuple[str, str, str]]:
    """(measure, transfer, scratch) as displayed text; a run the comparison never started says why
    ('not run (stopped)')."""
    def cell(role: str, metric) -> str:
        run = summary.get(role)
        return metric.format(run.get(metric.key)) if run else missing_text(summary, role)

    def precision(role: str) -> str:
        run = summary.get(role)
        return (run.get("precision") or "-") if run else missing_text(summary, role)

    rows = [(m.label, cell("transfer", m), cell("scratch", m)) for m in METRICS] + \
        [("precision", precision("transfer"), precision("scratch"))]
    return _with_estimate(rows, summary)


def _with_estimate(rows: list[tuple[str, str, str]], summary: dict) -> list[tuple[str, str, str]]:
    """The estimate made before Launch, under the wall time it foretold (where a run kept one)."""
    said = [(summary.get(role) or {}).get("estimated_s") for role in ("transfer", "scratch")]
    if all(s is None for s in said):
        return rows
    at = next((i + 1 for i, row in enumerate(rows) if row[0] == BY_KEY["wall_s"].label), len(rows))
    return rows[:at] + [("estimated", *(seconds(s) if s is not None else "-" for s in said))] + rows[at:]


def precision_notes(summary: dict) -> list[str]:
    """Why each run trained in its precision, one line each (one for both where they agree)."""
    reasons = {role: (summary.get(role) or {}).get("precision_reason") for role in ("transfer", "scratch")}
    if reasons["transfer"] and reasons["transfer"] == reasons["scratch"]:
        return [f"precision: {reasons['transfer']}"]
    return [f"{role} precision: {reason}" for role, reason in reasons.items() if reason]


def comparison_table(summary: dict) -> str:
    rows = comparison_rows(summary)
    width = max(16, *(len(text) + 2 for row in rows for text in row[1:]))
    lines = [f"{'':18}{'transfer':>{width}}{'scratch':>{width}}"]
    lines += [f"{label:18}{t:>{width}}{s:>{width}}" for label, t, s in rows]
    runs = [summary.get(role) or {} for role in ("transfer", "scratch")]
    lines += [run["machine_busy"] for run in runs if run.get("machine_busy")]
    lines += precision_notes(summary)
    lines.append(verdict(summary.get("transfer"), summary.get("scratch")))
    lines += [f"{role}: reused from run {', '.join(sources)} (same settings and data; --no-reuse trains it again)"
              for role in ("transfer", "scratch") if (sources := reused_sources(summary.get(role)))]
    return "\n".join(lines)


def reused_sources(run: dict | None) -> list[str]:
    """The runs a summary (one seed's, or a mean over seeds) copies instead of training again."""
    sources = (run or {}).get("reused_from")
    return [s for s in (sources if isinstance(sources, list) else [sources]) if s]


ALWAYS_LISTED = ("backbone", "dataset", "freeze_depth", "lr")  # `workbench runs` columns whatever the runs


def runs_table(rows: list[dict], problems: dict[str, str]) -> str:
    """`workbench runs`: one line per run from the store's index (`RunStore.list_runs`), with its freeze depth and
    rate, and every other setting (by its flag) or seed that differs between the runs listed, so that no two
    different runs read alike."""
    def setting(row: dict, name: str):
        return (row.get("config") or {}).get(name, row.get(name))

    varying = [o for o in OPTIONS if o.scope == "run" and "cli" in o.faces and o.name not in ALWAYS_LISTED
               and len({repr(setting(row, o.name)) for row in rows}) > 1]
    columns = [(o.cli_flag, lambda row, o=o: o.show(setting(row, o.name))) for o in varying]
    if len({row.get("seed") for row in rows}) > 1:
        columns.append(("seed", lambda row: str(row.get("seed"))))
    widths = [max(len(head), *(len(show(row)) for row in rows)) + 2 for head, show in columns]
    lines = [f"{'run id':32}{'role':10}{'status':12}{'backbone':20}{'dataset':14}{'freeze':>7}{'lr':>8}"
             + "".join(f"{head:>{width}}" for (head, _), width in zip(columns, widths))
             + f"{'epochs':>7}{'test acc':>10}  reused from"]
    for row in rows:
        lines.append(
            f"{row['run_id']:32}{row['role']:10}{row['status']:12}{str(row['backbone']):20}"
            f"{str(row['dataset'])[:13]:14}{option('freeze_depth').show(row['freeze_depth']):>7}"
            f"{option('lr').show(row['lr']):>8}" + "".join(f"{show(row):>{width}}" for (_, show), width in zip(columns, widths))
            + f"{row['epochs_done']:>7}{percent(row['test_acc']):>10}  {row['reused_from'] or ''}"
        )
    for run_id, problem in problems.items():
        lines.append(f"{run_id:32}{'?':10}{'unreadable':12}{problem}")
    return "\n".join(lines)


def settings_text(values: dict) -> str:
    """'backbone resnet18 · freeze depth (stages) 3 · ...': the main options in ``values`` with their labels, the
    rest only where they differ from their default (what a person needs to tell two set-ups apart)."""
    shown = [o for o in OPTIONS if o.name in values and "dashboard" in o.faces
             and (o.group == "main" or o.show(values[o.name]) != o.show(o.default))]
    return " · ".join(f"{o.label} {shown_value(o, values[o.name])}" for o in shown)


def shown_value(o, value) -> str:
    """An option's value as a page shared by a class shows it (a dataset by its label: `dataset_label`)."""
    return dataset_label(value) if o.name == "dataset" else o.show(value)


def comparison_label(comparison) -> str:
    """What a comparison picker shows: the settings that tell comparisons apart, how it ended, when it started."""
    records = comparison.transfer + comparison.scratch
    parts = comparison.comparison_id.split("-")  # c-YYYYMMDD-HHMMSS-xxxxxx, as runs.new_id writes it
    when = f"{parts[1][4:6]}/{parts[1][6:]} {parts[2][:2]}:{parts[2][2:4]}" if len(parts) == 4 else comparison.comparison_id
    if not records:
        return f"starting… ({when})"
    run, seeds = comparison.config.transfer, comparison.config.seeds
    statuses = {r.status for r in records}
    status = next((s for s in ("failed", "interrupted", "running") if s in statuses), "completed")
    per_class = option("train_per_class").show(run.train_per_class)
    return (f"{run.backbone} · freeze {run.freeze_depth} · lr {option('lr').show(run.lr)} · BN {run.bn_policy} · "
            f"{dataset_label(run.dataset)} ({per_class}/class) · {run.epochs} epoch{'s' if run.epochs != 1 else ''} · "
            f"{run.image_size} px · "
            f"seed{'s' if len(seeds) > 1 else ''} {option('seeds').show(seeds)} · {status} ({when})")


def tangled_text(parameter: str, parameter2: str, pairs: list[tuple]) -> str:
    """What a page says instead of a grid where two settings only changed together (`tangled_pairs`)."""
    first, second = option(parameter), option(parameter2)
    tried = "; ".join(f"{first.show(a)} with {second.show(b)}" for a, b in pairs[:4]) + ("; …" if len(pairs) > 4 else "")
    return (f"{first.label} and {second.label} changed together: no grid ({tried}). Which of the two made the "
            f"difference cannot be told: change one at a time, or sweep a grid of every pair.")


def sweep_table(parameters: list[str], rows: list[dict]) -> str:
    """`workbench sweep`: a line per point of the grid, test accuracy and wall time of both runs."""
    head = "".join(f"{p:>16}" for p in parameters)
    lines = [f"{head}{'transfer test':>15}{'scratch test':>14}{'transfer time':>15}{'scratch time':>14}  scratch"]
    for row in rows:
        transfer, scratch = row["transfer"] or {}, row["scratch"] or {}
        sources = reused_sources(scratch)
        lines.append("".join(f"{option(p).show(row['values'][p]):>16}" for p in parameters)
                     + f"{percent(transfer.get('test_acc')):>15}{percent(scratch.get('test_acc')):>14}"
                     f"{seconds(transfer.get('wall_s')):>15}{seconds(scratch.get('wall_s')):>14}"
                     f"  {'reused from ' + ', '.join(sources) if sources else 'trained' if scratch else '-'}")
    return "\n".join(lines)
