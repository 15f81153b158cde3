"""The studies: what each paper varied and claimed, scaled to a 2-core laptop.

Full mode is sized to finish within about 15 minutes per study on 2 CPU cores with 3 seeds; quick
mode (CI, a first look) keeps every setting's kind but shrinks data, images and epochs.
"""

from __future__ import annotations

from dataclasses import replace
from statistics import fmean

from workbench.explorer.measure import imagenet_top1
from workbench.models.backbones import get_backbone
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.studies.core import SCRATCH, Point, Study, StudyResult, Verdict, apart, base_run, difference, show, sign


def _spread_note(result: StudyResult) -> str:
    return " (one seed: no spread measured, so read differences with care)" if len(result.seeds) < 2 else ""


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
           if peak > 0 and apart(gaps[peak], gaps[0]) else "") + _spread_note(result))


CROSSOVER = Study(
    name="crossover", title="The data-size crossover", reference="He, Girshick, Dollár 2019",
    claim="transfer wins big with few labels; scratch closes the gap as labels grow",
    x_label="labels per class", metrics=("test_acc",), points=_crossover_points, judge=_judge_crossover, log_x=True)


# --- Yosinski et al. 2014: how transferable are features, stage by stage ----------------------------

def _yosinski_sources(quick: bool) -> dict[str, RunConfig]:
    """baseA and baseB: the network trained from scratch on each half of the digits."""
    run = base_run(quick, train_per_class=10 if quick else 50, epochs=3 if quick else 10, pretrained=False,
                   freeze_depth=0, lr=3e-3)
    return {"A": replace(run, dataset="digits:0-4"), "B": replace(run, dataset="digits:5-9")}


def _yosinski_points(quick: bool) -> list[Point]:
    target = replace(_yosinski_sources(quick)["B"], lr=3e-3)
    points = []
    for n in ((1, 5) if quick else (1, 3, 5)):
        for arm, source, depth in (("AnB", "@A", n), ("AnB+", "@A", 0), ("BnB", "@B", n)):
            points.append(Point(n, arm, ComparisonConfig(replace(target, init_run=source, init_stages=n,
                                                                 freeze_depth=depth)), with_scratch=False))
    return points


def _judge_yosinski(result: StudyResult) -> Verdict:
    xs = result.xs("AnB")
    deep = xs[-1]
    fine_tuning_helps = apart(result.cell(deep, "AnB+"), result.cell(deep, "AnB"))
    specific = apart(result.cell(xs[0], "AnB"), result.cell(deep, "AnB"))
    rows = "; ".join(f"n={x}: " + ", ".join(f"{arm} {show(result.cell(x, arm).mean, result.cell(x, arm).std)}"
                                             for arm in ("AnB", "AnB+", "BnB")) for x in xs)
    return Verdict(
        paper="features of early layers are general and transfer; deeper ones are specific to their task, so frozen "
              "transfer (AnB) gets worse the more layers are copied, while copying and fine-tuning (AnB+) does as "
              "well as or better than training on B alone (Yosinski, Clune, Bengio, Lipson 2014)",
        measured=f"test accuracy on digits 5-9 with the first n stages from a network trained on 0-4 (A) or 5-9 (B): "
                 f"{rows}",
        holds=fine_tuning_helps,
        reason=(f"at n={deep}, fine-tuning the copied stages (AnB+) beat freezing them (AnB) beyond the spread"
                if fine_tuning_helps else f"at n={deep}, frozen transfer did better than fine-tuned"
                if fine_tuning_helps is False else f"at n={deep}, AnB+ and AnB are within the spread")
        + ("; frozen transfer lost accuracy as more stages were copied" if specific else "")
        + _spread_note(result))


YOSINSKI = Study(
    name="yosinski", title="How transferable are features, stage by stage (AnB, AnB+, BnB)",
    reference="Yosinski, Clune, Bengio, Lipson 2014, How transferable are features in deep neural networks?",
    claim="deep stages are task-specific: frozen transfer (AnB) falls with depth, fine-tuned transfer (AnB+) does not",
    x_label="stages copied (n)", metrics=("test_acc",), points=_yosinski_points, judge=_judge_yosinski,
    sources=_yosinski_sources, note="EfficientNet-Lite0 from random weights: A = digits 0-4, B = digits 5-9")


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
                ("scratch has not caught up at these epochs" if not catches_up else "transfer was not always faster"))
        + _spread_note(result))


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
    holds = True if better and not worse else False if worse and not better else None
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
          "and one swap changes it" + _spread_note(result))


KORNBLITH = Study(
    name="kornblith", title="Better ImageNet models transfer better",
    reference="Kornblith, Shlens, Le 2019, Do Better ImageNet Models Transfer Better?",
    claim="a backbone with higher ImageNet top-1 gives higher accuracy after transfer",
    x_label="ImageNet top-1 (%)", metrics=("test_acc",), points=_kornblith_points, judge=_judge_kornblith,
    note="EfficientNet-Lite0/1/2 only: the three ImageNet models whose weights install offline")


# --- AdaBN: BatchNorm and domain shift ---------------------------------------------------------------

BN_POLICIES_COMPARED = ("frozen", "train", "adapt")


def _adabn_points(quick: bool) -> list[Point]:
    points = []
    for dataset in (("digits",) if quick else ("digits", "fashion_mnist")):
        run = base_run(quick, dataset=dataset, train_per_class=5 if quick else 20, image_size=32 if quick else 64,
                       epochs=2 if quick else 8, freeze_depth=get_backbone("efficientnet_lite0").num_stages, lr=3e-3)
        points += [Point(policy, dataset, ComparisonConfig(replace(run, bn_policy=policy)), with_scratch=False)
                   for policy in BN_POLICIES_COMPARED]
    return points


def _judge_adabn(result: StudyResult) -> Verdict:
    gains = {arm: difference(result.cell("adapt", arm), result.cell("frozen", arm), "adapt - frozen")
             for arm in result.arms()}
    signs = [sign(g) for g in gains.values()]
    holds = True if any(s is True for s in signs) and not any(s is False for s in signs) else (
        False if any(s is False for s in signs) else None)
    return Verdict(
        paper="re-estimating BatchNorm statistics on the target domain, with no labels and no training, "
              "improves accuracy under domain shift (Li et al. 2016, AdaBN)",
        measured="linear probe on ImageNet features, adapt minus frozen test accuracy: "
                 + ", ".join(f"{arm} {show(g.mean, g.std)}" for arm, g in gains.items()),
        holds=holds,
        reason=("adapting the statistics helped beyond the spread" if holds else
                "adapting the statistics hurt" if holds is False else
                "the difference is within the spread over seeds") + _spread_note(result))


ADABN = Study(
    name="adabn", title="BatchNorm under domain shift: frozen, train, adapt (AdaBN)",
    reference="Li, Wang, Shi, Liu, Hou 2016, Revisiting Batch Normalization For Practical Domain Adaptation",
    claim="the frozen backbone's BatchNorm statistics re-estimated on the target images beat ImageNet's",
    x_label="BatchNorm policy of the frozen stages", metrics=("test_acc",), points=_adabn_points, judge=_judge_adabn)


# --- Preprocessing: the input size and normalisation the backbone expects ---------------------------

NORMALIZATION_ARMS = {"backbone": "its own mean and std", "imagenet": "ImageNet's mean and std",
                      "none": "no normalisation"}


def _preprocessing_points(quick: bool) -> list[Point]:
    backbone = get_backbone("efficientnet_lite0")
    sizes = (32, 64) if quick else (32, 64, 128, backbone.image_size)
    run = base_run(quick, dataset="textures", train_per_class=5 if quick else 10, epochs=2 if quick else 6,
                   freeze_depth=backbone.num_stages, lr=3e-3)
    return [Point(size, arm, ComparisonConfig(replace(run, image_size=size, normalization=normalization)),
                  with_scratch=False)
            for normalization, arm in NORMALIZATION_ARMS.items() for size in sizes]


def _judge_preprocessing(result: StudyResult) -> Verdict:
    own = NORMALIZATION_ARMS["backbone"]
    xs = result.xs(own)
    cells = [result.cell(x, own) for x in xs]
    gain = apart(cells[-1], cells[0])
    largest = xs[-1]
    others = {arm: apart(result.cell(largest, own), result.cell(largest, arm))
              for arm in result.arms() if arm != own}
    normalisation = "; ".join(f"at {largest} px its own beat {arm}" if better else
                              f"at {largest} px {arm} did better" if better is False else
                              f"at {largest} px {arm} was within the spread of its own" for arm, better in others.items())
    return Verdict(
        paper="a pre-trained network works best near the input size it was trained at, with its inputs "
              "standardised as in its training: Kornblith et al. 2019 resize every dataset to the model's size, "
              "and Touvron et al. 2019 (FixRes) show accuracy follows how well train and test resolutions match",
        measured="linear probe test accuracy with its own normalisation: "
                 + ", ".join(f"{x} px {show(c.mean, c.std)}" for x, c in zip(xs, cells)) + f"; {normalisation}",
        holds=gain,
        reason=(f"the backbone's own size ({largest} px) beat {xs[0]} px beyond the spread" if gain else
                f"{xs[0]} px did better" if gain is False else "the difference in size is within the spread")
        + _spread_note(result))


PREPROCESSING = Study(
    name="preprocessing", title="Resize and normalise inputs as the pre-trained model expects",
    reference="Kornblith et al. 2019; Touvron et al. 2019 (FixRes)",
    claim="a frozen ImageNet backbone's features are best at its own input size and normalisation",
    x_label="image size (px)", metrics=("test_acc",), points=_preprocessing_points, judge=_judge_preprocessing,
    note="EfficientNet-Lite0's weights were trained on inputs in -1..1 (mean 127/255, std 128/255), not with "
         "ImageNet's mean and std", log_x=True)


# --- Neyshabur et al. 2020: what is being transferred ---------------------------------------------

def _neyshabur_points(quick: bool) -> list[Point]:
    size = 32 if quick else 64
    blocks = (size, 4) if quick else (size, 16, 8, 4, 2, 1)
    run = base_run(quick, dataset="textures", train_per_class=5 if quick else 10, image_size=size,
                   epochs=2 if quick else 8, freeze_depth=0)
    return [Point(block, "transfer", ComparisonConfig(replace(run, block_shuffle=0 if block == size else block)))
            for block in blocks]


def _judge_neyshabur(result: StudyResult) -> Verdict:
    xs = result.xs("transfer")  # the whole image first, then smaller and smaller blocks
    gaps = [difference(result.cell(x, "transfer"), result.cell(x, SCRATCH), "gap") for x in xs]
    shrinks = apart(gaps[0], gaps[-1])
    remains = sign(gaps[-1])
    return Verdict(
        paper="shuffling blocks of the target images lowers pre-training's advantage as the blocks get smaller "
              "(feature reuse needs the image's layout), yet some benefit survives even shuffled pixels: part of "
              "what transfers is low-level statistics (Neyshabur, Sedghi, Zhang 2020)",
        measured="transfer minus scratch test accuracy by block size: "
                 + ", ".join(f"{'whole image' if i == 0 else f'{x} px'} {show(g.mean, g.std)}"
                             for i, (x, g) in enumerate(zip(xs, gaps))),
        holds=shrinks,
        reason=("the lead shrank as the layout was destroyed" if shrinks else
                "the lead grew as the layout was destroyed" if shrinks is False else
                "the change in the lead is within the spread")
        + (f"; at {xs[-1]} px blocks transfer " + ("still leads" if remains else "no longer leads" if remains is None
                                                  else "trails") + " beyond the spread") + _spread_note(result))


NEYSHABUR = Study(
    name="neyshabur", title="What is being transferred: block-shuffled images",
    reference="Neyshabur, Sedghi, Zhang 2020, What is being transferred in transfer learning?",
    claim="pre-training's advantage shrinks as the image's layout is destroyed, but does not vanish",
    x_label="block size (px; the largest is the whole image)", metrics=("test_acc",), points=_neyshabur_points,
    judge=_judge_neyshabur, log_x=True)


STUDIES = {study.name: study for study in (YOSINSKI, CROSSOVER, HE2019, KORNBLITH, NEYSHABUR, ADABN,
                                              PREPROCESSING)}
