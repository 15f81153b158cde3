"""The estimate before Launch: it follows the FLOPs, counts reused runs once, keeps its calibration, and every face
shows it. The machine's speed is replaced by a fixed one: nothing here depends on how fast this machine is."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import torch

from workbench.cli.main import main
from workbench.experiments import estimate as estimating
from workbench.experiments.estimate import estimate, fits, run_seconds
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.training import calibrate, hardware, measuring, precision
from workbench.training.calibrate import Rate, flop_profile, step_flops

FIXED = dict(train_flops_s=2e10, step_s=0.002, eval_flops_s=4e10, build_s=0.1, eval_batch=16)


@pytest.fixture(autouse=True)
def fixed_machine(tmp_path, monkeypatch):
    """A cache folder of the test's own and a machine whose measured speed is always the same (in fp32: without
    native bfloat16, so that no run here trains in bf16)."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    calls = []

    def measure(backbone, image_size, batch_size, threads):
        calls.append((backbone, image_size, batch_size, threads))
        return Rate(**FIXED, measured=time.time(), others_cpu_share=0.0)

    monkeypatch.setattr(calibrate, "measure_rate", measure)
    monkeypatch.setattr(estimating, "startup_s", lambda: 2.0)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma"})
    return calls


def _run(**values) -> RunConfig:
    return RunConfig(**{"epochs": 4, "image_size": 32, "train_per_class": 10, **values})


def test_a_run_that_will_train_in_bf16_is_estimated_at_the_speed_its_calibration_found(monkeypatch, tmp_path):
    """Seen on a CPU with native bf16: ResNet-18 at 128 px trained twice as fast as estimated (the estimate's rates
    are fp32's)."""
    long, short = _run(image_size=64, epochs=40), _run(epochs=1)
    fp32 = {"long": run_seconds(long)[0], "short": run_seconds(short)[0]}
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma", "amx_bf16"})
    timed = []
    monkeypatch.setattr(precision, "step_seconds", lambda config: timed.append(config) or {"fp32": 0.2, "bf16": 0.1})
    assert run_seconds(long, measure=False)[0] == pytest.approx(fp32["long"])  # no precision calibration kept: fp32's
    assert timed == []
    seconds, flops = run_seconds(long)
    assert len(timed) == 1 and fp32["long"] / 2 < seconds < fp32["long"]  # its steps and evaluation at half
    assert run_seconds(long, measure=False)[0] == pytest.approx(seconds)  # kept, now
    assert run_seconds(short)[0] == pytest.approx(fp32["short"]) and len(timed) == 1  # too small to time: fp32
    # Exactly what an fp32 machine computing twice as fast would be told (its per-step overheads the same).
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "a faster machine"))
    faster = dict(FIXED, train_flops_s=2 * FIXED["train_flops_s"], eval_flops_s=2 * FIXED["eval_flops_s"])
    monkeypatch.setattr(calibrate, "measure_rate", lambda *args: Rate(**faster, measured=time.time(),
                                                                        others_cpu_share=0.0))
    assert run_seconds(long) == pytest.approx((seconds, flops))


def test_estimate_scales_with_epochs_images_and_image_size_as_the_flops_do():
    base_s, base_flops = run_seconds(_run())
    epochs_s, epochs_flops = run_seconds(_run(epochs=8))
    assert epochs_flops == 2 * base_flops
    assert 1.7 < (epochs_s - FIXED["build_s"]) / (base_s - FIXED["build_s"]) < 2.05
    images_s, images_flops = run_seconds(_run(train_per_class=20))
    assert images_flops == pytest.approx(2 * base_flops, rel=0.01)
    assert images_s > 1.5 * base_s - FIXED["build_s"]
    large_s, large_flops = run_seconds(_run(image_size=64))
    assert 3.5 < large_flops / base_flops < 4.5  # a convolution's work grows with the pixels
    assert large_s > 2.5 * base_s


def test_a_frozen_and_cached_backbone_costs_its_forward_once():
    stages = 6  # efficientnet_lite0
    n_train = 60  # textures: 10 a class, 6 classes
    cached = [run_seconds(_run(freeze_depth=stages, epochs=e))[1] for e in (4, 8)]
    step = step_flops("efficientnet_lite0", 32, 6, stages, stages)
    assert cached[1] - cached[0] == pytest.approx(4 * n_train * step, rel=1e-6)  # only the head, per epoch
    assert cached[0] == pytest.approx(n_train * (flop_profile("efficientnet_lite0", 32, 6).prefix(stages) + 4 * step),
                                      rel=1e-6)
    uncached = run_seconds(_run(freeze_depth=stages, cache_features=False))[1]
    assert uncached > 3 * cached[0]  # without the cache the frozen stages run every epoch


def test_a_scratch_run_shared_by_a_depth_sweep_counts_once():
    configs = [ComparisonConfig(_run(freeze_depth=d)) for d in (0, 3, 6)]
    result = estimate(configs, workers=1)
    scratch = [r for r in result.runs if r.role == "scratch"]
    assert [r.reused for r in scratch] == [None] + ["trained by another comparison here"] * 2
    assert [r.seconds for r in scratch[1:]] == [0.0, 0.0]
    trained = sum(r.seconds for r in result.runs)
    assert result.total_s >= trained  # one worker: every run and the decoding, one after the other
    assert estimate(configs, workers=1, reuse=False).total_s > result.total_s


def test_a_run_already_in_the_store_counts_zero(monkeypatch):
    config = ComparisonConfig(_run())
    done = estimating.fingerprint(config.scratch(0))
    monkeypatch.setattr(estimating, "find_reusable", lambda store, key: object() if key == done else None)
    result = estimate([config], store=object())
    scratch = [(r.seconds, r.reused) for r in result.runs if r.role == "scratch"]
    assert scratch == [(0.0, "in the store")]


def test_two_workers_share_a_sweep():
    configs = [ComparisonConfig(_run(lr=lr)) for lr in (1e-3, 3e-3, 1e-2, 3e-2)]
    one, two = estimate(configs, workers=1, reuse=False), estimate(configs, workers=2, reuse=False)
    assert two.workers == 2 and one.workers == 1
    assert two.total_s < one.total_s


def test_the_calibration_is_kept_and_measured_again_when_stale(fixed_machine):
    first = calibrate.calibration("efficientnet_lite0", 32, 16, 1)
    again = calibrate.calibration("efficientnet_lite0", 32, 16, 1)
    assert len(fixed_machine) == 1 and again == first
    kept = json.loads(calibrate.cache_path().read_text())
    entry = kept[calibrate.machine_key()][calibrate.rate_key("efficientnet_lite0", 32, 16, 1)]
    entry["measured"] -= calibrate.STALE_AFTER_S + 1
    calibrate.cache_path().write_text(json.dumps(kept))
    calibrate.calibration("efficientnet_lite0", 32, 16, 1)
    assert len(fixed_machine) == 2
    calibrate.calibration("efficientnet_lite0", 48, 16, 1)  # another image size is another calibration
    assert len(fixed_machine) == 3


def test_calibrations_asked_for_at_once_measure_one_at_a_time_and_once_each(fixed_machine, monkeypatch):
    """Settings typed in quick succession start a page run each before the last stops: they wait their turn (no
    two measure at once, each seeing the other's load) and take what the first kept."""
    measure, measuring = calibrate.measure_rate, []

    def slow(*args):
        measuring.append(args)
        time.sleep(0.3)
        assert len(measuring) == 1, "two calibrations measured at once"
        measuring.pop()
        return measure(*args)

    monkeypatch.setattr(calibrate, "measure_rate", slow)
    asked = [("efficientnet_lite0", 32, 16, 1)] * 3 + [("efficientnet_lite0", 48, 16, 1)]
    with ThreadPoolExecutor(len(asked)) as pool:
        rates = list(pool.map(lambda a: calibrate.calibration(*a), asked))
    assert sorted(set(fixed_machine)) == sorted(set(asked)) and len(fixed_machine) == 2  # once each
    assert rates[0] == rates[1] == rates[2]


def test_a_run_stopped_before_its_turn_to_measure_measures_nothing(fixed_machine):
    """The dashboard's ``measuring`` says so on the page, and Streamlit stops a replaced page run there."""

    class Replaced(Exception):
        pass

    def replaced():
        raise Replaced

    with pytest.raises(Replaced):
        calibrate.calibration("efficientnet_lite0", 32, 16, 1, measuring=replaced)
    assert fixed_machine == [] and calibrate.cached_rate("efficientnet_lite0", 32, 16, 1) is None
    calibrate.calibration("efficientnet_lite0", 32, 16, 1)  # the next one is not kept waiting
    assert len(fixed_machine) == 1


class _Timed(torch.nn.Module):
    """A network whose call costs ``per_call`` seconds and ``per_image`` seconds for each image of the batch
    times the batch (activations that leave the caches)."""

    def __init__(self, per_call: float, per_image: float):
        super().__init__()
        self.per_call, self.per_image = per_call, per_image

    def forward(self, x):
        time.sleep(self.per_call + self.per_image * len(x) ** 2)
        return x


def test_a_calibration_keeps_the_inference_batch_that_ran_fastest_and_evaluation_uses_it():
    assert calibrate._fastest_inference(_Timed(0.004, 0.0), 8)[0] == max(calibrate.EVAL_BATCHES)  # calls dominate
    assert calibrate._fastest_inference(_Timed(0.0, 2e-6), 8)[0] == min(calibrate.EVAL_BATCHES)  # caches dominate
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert calibrate.inference_batch("efficientnet_lite0", 32, 16, cpu) == calibrate.CPU_EVAL_BATCH  # none kept
    threads = torch.get_num_threads()
    calibrate.calibration("efficientnet_lite0", 32, 16, threads)  # the fixed machine's: eval_batch 16
    assert calibrate.inference_batch("efficientnet_lite0", 32, 16, cpu) == 16
    assert calibrate.inference_batch("efficientnet_lite0", 32, 16, gpu) == calibrate.GPU_EVAL_BATCH


def test_a_calibration_taken_on_a_loaded_machine_is_redone_sooner():
    loaded = Rate(**FIXED, measured=time.time() - calibrate.LOADED_RETRY_S - 1, others_cpu_share=0.6)
    assert loaded.stale(time.time())
    assert not replace(loaded, others_cpu_share=0.0).stale(time.time())


def test_workbench_estimate_prints_each_run_and_the_total(capsys):
    assert main(["estimate", "--epochs", "2", "--image-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "transfer" in out and "scratch" in out and "on this machine" in out.splitlines()[-1]
    assert main(["estimate", "--epochs", "2", "--image-size", "32", "--param", "freeze_depth", "--values", "0 6",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["labels"] == ["freeze_depth=0", "freeze_depth=6"] and data["workers"] == 2
    assert [r["reused"] for r in data["runs"]].count("trained by another comparison here") == 1
    assert data["line"].startswith("about ") and data["total_s"] > 0


def test_workbench_estimate_fit_lists_what_fits_best_first(monkeypatch, capsys):
    monkeypatch.setattr(estimating, "FIT_SIZES", (32, 64))
    assert main(["estimate", "--fit", "3", "--backbone", "efficientnet_lite0", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["fits"]
    assert found and all(f["seconds"] <= 180 for f in found)
    assert [f["image_size"] for f in found] == sorted((f["image_size"] for f in found), reverse=True)
    assert {f["freeze_depth"] for f in found} <= {0, 3, 6}
    assert main(["estimate", "--fit", "3"]) == 0
    assert "what fits in 3 min" in capsys.readouterr().out
    few = fits(0.01, ComparisonConfig(_run()), sizes=(32,))
    assert few == []


@pytest.mark.parametrize("argv, message", [
    (["--fit", "0"], "--fit takes the lesson's minutes"),
    (["--fit", "5", "--param", "epochs", "--values", "1 2"], "leave out --param"),
    (["--param", "epochs"], "--param needs --values"),
    (["--values", "1 2"], "--values and --param2 go with --param"),
    (["--study", "nosuch"], "unknown study"),
    (["--image-size", "8"], "too small"),
])
def test_bad_estimate_options_end_in_one_line(argv, message, capsys):
    assert main(["estimate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1


def test_a_sweep_says_its_total_before_it_starts(monkeypatch, capsys):
    monkeypatch.setattr("workbench.experiments.sweeps.run_sweep", lambda points, *a, **k: [])  # nothing trains
    assert main(["sweep", "--param", "freeze_depth", "--values", "0 6", "--epochs", "1", "--image-size", "32"]) == 0
    assert "2 comparisons: about" in capsys.readouterr().err


def test_the_dashboard_says_how_long_under_launch(tmp_path, monkeypatch):
    from app_pages import app_page

    from workbench.dashboard.estimate import MEASURING, measurer

    at = app_page()  # on the page's first run, before any click: the server measures, the page says so
    assert [c.value for c in at.sidebar.caption][0] == MEASURING
    _wait_until(lambda: not measurer.busy())
    at.run()  # (in a browser, the line's own timer asks for this run)
    captions = [c.value for c in at.sidebar.caption]
    assert captions[0].startswith("this comparison: about ") and captions[0].endswith(" on this machine"), captions


def test_a_page_never_measures_the_server_does_and_on_bf16_it_times_both_runs(monkeypatch, tmp_path):
    """Seen in a class: a teacher page measuring for 54 s under the class's load could not Stop a job until it was
    done. Now a page only reads kept calibrations, and hands what is missing to a thread of its server; on a CPU with
    native bf16 that thread also times bf16 against fp32 for both runs of the pair (the estimate needs both)."""
    from workbench.dashboard import estimate as page_estimate
    from workbench.dashboard.estimate import Measurer

    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma", "amx_bf16"})
    timed = []
    monkeypatch.setattr(precision, "step_seconds", lambda config: timed.append(config) or {"fp32": 0.2, "bf16": 0.1})
    long = ComparisonConfig(_run(image_size=64, epochs=40, freeze_depth=3))
    with measuring.no_measuring(), pytest.raises(measuring.NotMeasured):
        estimate([long])  # a page's own thread: nothing measured, nothing waited for
    assert not timed and not calibrate.cached_rate("efficientnet_lite0", 64, 16, None)
    measurer, settings = Measurer(), json.dumps([long.to_dict()])
    assert measurer.ask("page 1", settings, str(tmp_path / "runs")) and measurer.waiting("page 1")
    assert measurer.ask("page 2", settings, str(tmp_path / "runs"))  # two pages, one measurement
    _wait_until(lambda: not measurer.busy())
    assert not measurer.waiting("page 1") and not measurer.waiting("page 2")
    assert sorted(c.freeze_depth for c in timed) == [0, 3]  # the transfer run's setting and the scratch run's
    with measuring.no_measuring():
        assert estimate([long]).total_s > 0  # everything kept now: the page answers
    assert not measurer.ask("page 1", settings, str(tmp_path / "runs"))  # measured lately: not again
    monkeypatch.setattr(page_estimate, "REMEASURE_AFTER_S", 0.0)  # long ago, now: forgotten, not kept for ever
    other = json.dumps([ComparisonConfig(_run(epochs=2)).to_dict()])
    assert measurer.ask("page 1", other, str(tmp_path / "runs"))
    _wait_until(lambda: not measurer.busy())
    assert list(measurer._done) == [(other, str(tmp_path / "runs"))]


def test_a_page_waits_only_for_its_newest_settings(monkeypatch, tmp_path):
    """A student typing through image sizes: the settings typed past are never measured."""
    from workbench.dashboard import estimate as page_estimate

    measured, release = [], threading.Event()

    def slow_estimate(configs, store, measure):
        measured.append(configs[0].transfer.image_size)
        release.wait(10)

    monkeypatch.setattr(page_estimate, "estimate", slow_estimate)
    measurer, runs = page_estimate.Measurer(), str(tmp_path / "runs")
    for size in (32, 48, 64, 96):
        measurer.ask("page", json.dumps([ComparisonConfig(_run(image_size=size)).to_dict()]), runs)
        _wait_until(lambda: measured)  # the first is under way before the student types on
    release.set()
    _wait_until(lambda: not measurer.busy())
    assert measured == [32, 96]  # the one under way when the others came, then the newest only


def _wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "still waiting"
        time.sleep(0.02)


def test_the_panels_show_the_estimate_beside_run_and_follow_the_settings(tmp_path):
    from workbench.store.runs import RunStore
    from workbench.widgets import ComparisonPanel, SweepPanel

    panel = ComparisonPanel(RunStore(tmp_path / "runs"), dataset="digits:0-2", train_per_class=4, image_size=32,
                            epochs=2)
    line = panel.estimate
    assert line.text.value == "" and line.measure.layout.display is None  # never measured: a button, not a stall
    line.measure.click()
    assert "on this machine" in line.text.value and line.measure.layout.display == "none"
    before = line.text.value
    panel.controls["epochs"].value = 40
    assert line.text.value != before and "on this machine" in line.text.value
    panel.counting.join()
    base = ComparisonConfig(RunConfig(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=2))
    sweep = SweepPanel(base, RunStore(tmp_path / "runs"), values="0 6")
    assert "on this machine" in sweep.estimate.text.value  # the scratch run, shared by both points, counted once


def test_each_record_keeps_its_estimate_beside_the_measured_time(tmp_path):
    from workbench.experiments.runner import run_comparison
    from workbench.present.report import comparison_rows
    from workbench.store.runs import RunStore

    config = ComparisonConfig(RunConfig(dataset="digits:0-2", train_per_class=4, image_size=32, epochs=1))
    said = estimate([config])  # measures (here: the fixed machine) and keeps the calibration
    comparison = run_comparison(config, RunStore(tmp_path / "runs"))
    for record, run in zip(comparison.transfer + comparison.scratch, said.runs):
        assert record.environment["estimated_s"] == pytest.approx(run.seconds, abs=0.01)
    rows = {label: (t, s) for label, t, s in comparison_rows(comparison.summary())}
    assert rows["estimated"][0].endswith(" s") and "wall time" in rows


def test_a_pair_that_ends_sooner_at_once_is_estimated_so_and_said(monkeypatch):
    """With a second thread worth nothing here (the fixed machine is as fast on one as on two), the scratch run in
    a process of its own beside the transfer run costs only its start-up: the total says so, and a note why."""
    from workbench.experiments import pairs

    monkeypatch.setattr(pairs, "startup_s", lambda: 2.0)
    monkeypatch.setattr("torch.get_num_threads", lambda: 2)
    config = ComparisonConfig(_run(image_size=64))
    monkeypatch.setenv("WORKBENCH_PAIR", "in-turn")
    in_turn = estimate([config])
    transfer, scratch = (r.seconds for r in in_turn.runs)
    assert in_turn.notes == [] and not pairs.together(config.transfer_run(0), config.scratch(0))
    monkeypatch.setenv("WORKBENCH_PAIR", "auto")
    at_once = estimate([config])
    assert scratch > 2.0 and at_once.total_s == pytest.approx(in_turn.total_s - transfer - scratch
                                                              + max(transfer, 2.0 + scratch))
    assert at_once.notes == ["the transfer and scratch runs train at once, each on half the cores"]
    assert pairs.together(config.transfer_run(0), config.scratch(0))
