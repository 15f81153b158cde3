"""What is transferred: features stage by stage, BatchNorm under a domain shift, the input the model expects,
and what survives when the image is shuffled (Yosinski et al. 2014, AdaBN, preprocessing, Neyshabur et al. 2020).
"""

from __future__ import annotations

from dataclasses import replace

from workbench.models.backbones import get_backbone
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.studies.core import SCRATCH, Point, Study, StudyResult, Verdict, base_run
from workbench.studies.judging import apart, difference, overall, show, sign

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
        + ("; frozen transfer lost accuracy as more stages were copied" if specific else ""))


YOSINSKI = Study(
    name="yosinski", title="How transferable are features, stage by stage (AnB, AnB+, BnB)",
    reference="Yosinski, Clune, Bengio, Lipson 2014, How transferable are features in deep neural networks?",
    claim="deep stages are task-specific: frozen transfer (AnB) falls with depth, fine-tuned transfer (AnB+) does not",
    x_label="stages copied (n)", metrics=("test_acc",), points=_yosinski_points, judge=_judge_yosinski,
    sources=_yosinski_sources, note="EfficientNet-Lite0 from random weights: A = digits 0-4, B = digits 5-9")


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
    holds = overall(sign(g) for g in gains.values())
    shown = ", ".join(f"{arm} {show(g.mean, g.std)}" for arm, g in gains.items())
    return Verdict(
        paper="re-estimating BatchNorm statistics on the target domain, with no labels and no training, "
              "improves accuracy under domain shift (Li et al. 2016, AdaBN)",
        measured=f"linear probe on ImageNet features, adapt minus frozen test accuracy: {shown}", holds=holds,
        reason=("adapting the statistics helped beyond the spread" if holds else
                "adapting the statistics hurt" if holds is False else
                "the difference is within the spread over seeds"))


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
                f"{xs[0]} px did better" if gain is False else "the difference in size is within the spread"))


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
                                                  else "trails") + " beyond the spread"))


NEYSHABUR = Study(
    name="neyshabur", title="What is being transferred: block-shuffled images",
    reference="Neyshabur, Sedghi, Zhang 2020, What is being transferred in transfer learning?",
    claim="pre-training's advantage shrinks as the image's layout is destroyed, but does not vanish",
    x_label="block size (px; the largest is the whole image)", metrics=("test_acc",), points=_neyshabur_points,
    judge=_judge_neyshabur, log_x=True)
