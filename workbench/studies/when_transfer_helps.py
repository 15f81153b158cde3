"""When transfer helps: how much labelled data it takes, how fast it gets there, and which models transfer
best (the data-size crossover, He et al. 2019, Kornblith et al. 2019).
"""

from __future__ import annotations

from dataclasses import replace
from statistics import fmean

from workbench.explorer.measure import imagenet_top1
from workbench.models.backbones import get_backbone
from workbench.spec.config import ComparisonConfig
from workbench.studies.core import SCRATCH, Point, Study, StudyResult, Verdict, base_run
from workbench.studies.judging import apart, difference, overall, show

# --- the data-size crossover --------------------------------------------------------------------

CROSSOVER_LABELS = {True: (2, 20), False: (1, 5, 20, 100)}


def _crossover_points(quick: bool) -> list[Point]:
    dataset = "digits" if quick else "fashion_mnist"
    run = base_run(quick, dataset=dataset, image_size=32, epochs=3 if quick else 10, freeze_depth=0)
    return [Point(n, "transfer", ComparisonConfig(replace(run, train_per_class=n))) for n in CROSSOVER_LABELS[quick]]


def _judge_crossover(result: StudyResult) -> Verdict:
    """The lead at the most labels against the largest lead at fewer: with one or two labels a class neither
    network may learn much in a few epochs, so the gap can first grow before it narrows."""
    xs = result.xs("transfer")
    gaps = [difference(result.cell(x, "transfer"), result.cell(x, SCRATCH), "gap") for x in xs]
    peak = max(range(len(gaps) - 1), key=lambda i: gaps[i].mean if gaps[i].mean is not None else float("-inf"))
    narrows = apart(gaps[peak], gaps[-1])
    measured = ", ".join(f"{x}/class: {show(g.mean, g.std)}" for x, g in zip(xs, gaps))
    return Verdict(
        paper="pre-training helps most with little target data; with enough, training from scratch catches up "
              "(He et al. 2019: scratch overfits on 1k COCO images, matches pre-training on all of COCO)",
        measured=f"transfer minus scratch test accuracy, {measured}",
        holds=narrows,
        reason=(f"the lead at {xs[-1]}/class is smaller than its largest, at {xs[peak]}/class, beyond the spread"
                if narrows else f"the lead at {xs[-1]}/class is the largest" if narrows is False
                else f"the lead at {xs[-1]}/class is within the spread of the largest, at {xs[peak]}/class")
        + ("; the lead was smaller at the fewest labels, where neither network learned much"
           if peak > 0 and apart(gaps[peak], gaps[0]) else ""))


CROSSOVER = Study(
    name="crossover", title="The data-size crossover", reference="He, Girshick, Dollár 2019",
    claim="transfer wins big with few labels; scratch closes the gap as labels grow",
    x_label="labels per class", metrics=("test_acc",), points=_crossover_points, judge=_judge_crossover, log_x=True)


# --- He et al. 2019: faster, not necessarily better ------------------------------------------------

def _he_points(quick: bool) -> list[Point]:
    dataset = "digits" if quick else "fashion_mnist"
    run = base_run(quick, dataset=dataset, image_size=32, epochs=4 if quick else 12, freeze_depth=0,
                   target_acc=0.6 if quick else 0.7)
    labels = (5, 40) if quick else (10, 100)
    return [Point(n, "transfer", ComparisonConfig(replace(run, train_per_class=n))) for n in labels]


def _judge_he(result: StudyResult) -> Verdict:
    xs = result.xs("transfer")
    many = xs[-1]
    faster = [_fewer_epochs(result, x) for x in xs]
    catches_up = apart(result.cell(many, "transfer"), result.cell(many, SCRATCH)) is not True
    epochs = "; ".join(f"{x}/class: transfer {_epochs(result, x, 'transfer')}, scratch {_epochs(result, x, SCRATCH)}"
                       for x in xs)
    final = show(difference(result.cell(many, "transfer"), result.cell(many, SCRATCH), "gap").mean, None)
    holds = True if all(faster) and catches_up else False if not any(faster) else None
    return Verdict(
        paper="ImageNet pre-training speeds up convergence, but with enough data and epochs training from scratch "
              "reaches the same accuracy (He, Girshick, Dollár 2019)",
        measured=f"epochs to {_target(result)} val accuracy: {epochs}; "
                 f"at {many}/class transfer leads by {final} test accuracy",
        holds=holds,
        reason=("transfer reached the target in fewer epochs at every size, and scratch is within the spread at "
                "the most labels" if holds else
                "transfer was not faster to the target" if holds is False else
                "only part of the claim holds here: " +
                ("scratch has not caught up at these epochs" if not catches_up else "transfer was not always faster")))


def _target(result: StudyResult) -> str:
    return f"{100 * result.study.points(result.quick)[0].config.transfer.target_acc:.0f}%"


def _epochs(result: StudyResult, x, arm: str) -> str:
    cell = result.cell(x, arm, "epochs_to_target")
    reached = [v for v in cell.values if v is not None]
    if not reached:
        return "never"
    mean = fmean(reached)
    return f"{mean:.1f}" + (f" ({len(reached)} of {len(cell.values)} seeds)" if len(reached) < len(cell.values) else "")


def _fewer_epochs(result: StudyResult, x) -> bool:
    """Transfer reached the target in fewer epochs on average, counting 'never' as one epoch past the end."""
    limit = result.study.points(result.quick)[0].config.transfer.epochs + 1

    def average(arm: str) -> float:
        return fmean(v if v is not None else limit for v in result.cell(x, arm, "epochs_to_target").values)

    return average("transfer") < average(SCRATCH)


HE2019 = Study(
    name="he2019", title="Pre-training speeds convergence; scratch catches up",
    reference="He, Girshick, Dollár 2019, Rethinking ImageNet Pre-training",
    claim="transfer reaches a target accuracy in fewer epochs; with more data, scratch ends as accurate",
    x_label="labels per class", metrics=("test_acc", "epochs_to_target", "flops_to_target"), points=_he_points,
    judge=_judge_he, log_x=True)


# --- Kornblith et al. 2019: better ImageNet models transfer better ------------------------------------

LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def _kornblith_points(quick: bool) -> list[Point]:
    points = []
    for dataset in (("digits",) if quick else ("digits", "textures")):
        for backbone in LITES:
            stages = get_backbone(backbone).num_stages
            run = base_run(quick, dataset=dataset, backbone=backbone, train_per_class=5 if quick else 20,
                           image_size=32 if quick else 96, epochs=2 if quick else 8)
            top1 = imagenet_top1(backbone)[0]
            for arm, depth, lr in (("linear probe", stages, 3e-3), ("fine-tuned", 0, 1e-3)):
                points.append(Point(top1, f"{arm} · {dataset}", ComparisonConfig(replace(run, freeze_depth=depth, lr=lr)),
                                    with_scratch=False))
    return points


def _rank_correlation(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rho (no ties expected among three models' means)."""
    if len(xs) < 3 or any(y is None for y in ys):
        return None

    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        return [order.index(i) for i in range(len(values))]

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    return 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry)) / (n * (n * n - 1))


def _judge_kornblith(result: StudyResult) -> Verdict:
    """The rank correlation is reported, but the verdict rests on the spread: does the model with the best
    ImageNet top-1 beat the one with the worst by more than their spreads, arm by arm?"""
    rhos, beats = {}, {}
    for arm in result.arms():
        xs = result.xs(arm)
        rhos[arm] = _rank_correlation(xs, [result.cell(x, arm).mean for x in xs])
        beats[arm] = apart(result.cell(max(xs), arm), result.cell(min(xs), arm))
    better = [arm for arm, b in beats.items() if b is True]
    worse = [arm for arm, b in beats.items() if b is False]
    holds = overall(beats.values())
    same = [arm for arm, b in beats.items() if b is None]
    return Verdict(
        paper="across 16 ImageNet models and 12 datasets, ImageNet top-1 correlated with transfer accuracy: "
              "r = 0.99 as fixed features, 0.96 fine-tuned (Kornblith, Shlens, Le 2019)",
        measured="rank correlation of ImageNet top-1 with test accuracy: "
                 + ", ".join(f"{arm} {'-' if r is None else f'{r:+.1f}'}" for arm, r in rhos.items()),
        holds=holds,
        reason="; ".join(filter(None, [
            f"the best ImageNet model beat the worst beyond the spread for {', '.join(better)}" if better else "",
            f"it did worse beyond the spread for {', '.join(worse)}" if worse else "",
            f"the models are within the spread of each other for {', '.join(same)}" if same else ""]))
        + "; three models are a small sample: a rank correlation of three points is +1, +0.5, -0.5 or -1, "
          "and one swap changes it")


KORNBLITH = Study(
    name="kornblith", title="Better ImageNet models transfer better",
    reference="Kornblith, Shlens, Le 2019, Do Better ImageNet Models Transfer Better?",
    claim="a backbone with higher ImageNet top-1 gives higher accuracy after transfer",
    x_label="ImageNet top-1 (%)", metrics=("test_acc",), points=_kornblith_points, judge=_judge_kornblith,
    note="EfficientNet-Lite0/1/2 only: the three ImageNet models whose weights install offline")
