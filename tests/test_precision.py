"""Precision (auto, fp32, bf16) decided at run time and said in the record, and a run's share of the machine's peak.

Nothing here depends on this machine having bfloat16: the flag reader, the calibration timer and the matmul probe
are replaced where a test needs them to say something.
"""

import json
import time
from dataclasses import replace

import pytest
import torch

from workbench.cli.main import build_parser
from workbench.cli.options import run_config
from workbench.core.metrics import metric
from workbench.core.records import RunRecord
from workbench.spec.config import RunConfig
from workbench.spec.options import option, shown_in
from workbench.training import hardware, precision
from workbench.training.hardware import Measurements, peak_flops
from workbench.training.precision import choose_precision
from workbench.training.train import train_run

CPU = torch.device("cpu")


@pytest.fixture
def small() -> RunConfig:
    return RunConfig(dataset="digits:0-4", train_per_class=3, image_size=32, epochs=1, batch_size=6,
                     max_eval_per_class=3, device="cpu")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Measurements:
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return Measurements()


def _flags(monkeypatch, *flags):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma", *flags})


def _timer(monkeypatch, fp32: float, bf16: float) -> list:
    calls = []

    def timed(config):
        calls.append(config)
        return {"fp32": fp32, "bf16": bf16}

    monkeypatch.setattr(precision, "step_seconds", timed)
    return calls


def test_precision_is_an_option_of_every_face_with_auto_by_default():
    spec = option("precision")
    assert (spec.kind, spec.options_for(), spec.default, spec.group) == ("choice", ["auto", "fp32", "bf16"], "auto",
                                                                         "training")
    assert all(spec in shown_in(face) for face in ("cli", "dashboard", "widgets"))
    assert RunConfig().precision == "auto"
    args = build_parser().parse_args(["compare", "--precision", "bf16"])
    assert run_config(args).precision == "bf16"
    with pytest.raises(Exception, match="unknown precision 'fp16'"):
        replace(RunConfig(), precision="fp16").validate()


def test_auto_keeps_fp32_on_a_cpu_without_native_bfloat16_and_says_why(monkeypatch, cache, small):
    _flags(monkeypatch)
    calls = _timer(monkeypatch, 1.0, 0.1)
    chosen = choose_precision(small, CPU, cache)
    assert chosen.name == "fp32" and "no native bfloat16" in chosen.reason and not calls  # nothing timed


def test_auto_takes_bf16_where_native_and_the_calibration_finds_it_faster(monkeypatch, cache, small):
    _flags(monkeypatch, "avx512_bf16")
    _timer(monkeypatch, 0.2, 0.1)
    chosen = choose_precision(small, CPU, cache)
    assert chosen.name == "bf16" and chosen.cpu_bf16
    assert "avx512_bf16" in chosen.reason and "2.00x as fast" in chosen.reason and "timed now" in chosen.reason


def test_auto_keeps_fp32_where_native_bf16_is_not_faster(monkeypatch, cache, small):
    _flags(monkeypatch, "amx_bf16")
    _timer(monkeypatch, 0.1, 0.1)
    chosen = choose_precision(small, CPU, cache)
    assert chosen.name == "fp32" and "not faster (1.00x)" in chosen.reason


def test_asked_for_precisions_and_cuda(monkeypatch, cache, small):
    _flags(monkeypatch)
    calls = _timer(monkeypatch, 1.0, 0.1)
    assert choose_precision(replace(small, precision="fp32"), CPU, cache).name == "fp32"
    emulated = choose_precision(replace(small, precision="bf16"), CPU, cache)
    assert emulated.name == "bf16" and "slow emulation" in emulated.reason
    assert choose_precision(replace(small, precision="fp32"), torch.device("cuda"), cache).name == "mixed"
    assert not calls


def test_the_calibration_is_kept_and_redone_for_a_new_torch_or_setting(monkeypatch, cache, small):
    _flags(monkeypatch, "avx512_bf16")
    calls = _timer(monkeypatch, 0.3, 0.2)
    first = choose_precision(small, CPU, cache)
    again = choose_precision(small, CPU, cache)
    assert len(calls) == 1 and first.name == again.name == "bf16" and "timed earlier" in again.reason
    choose_precision(replace(small, freeze_depth=3), CPU, cache)  # another setting: its own calibration
    assert len(calls) == 2
    monkeypatch.setattr(hardware, "torch_version", lambda: "99.0")
    choose_precision(small, CPU, cache)
    assert len(calls) == 3
    kept = json.loads(cache.path.read_text())["precision_calibration"]
    assert [entry["key"]["torch"] for entry in kept.values()] == ["99.0"]  # the old torch's entries are gone


def test_the_peak_is_probed_once_per_machine_and_torch(monkeypatch, cache):
    probes = []
    monkeypatch.setattr(hardware, "matmul_flops_per_s", lambda device, dtype: probes.append(dtype) or 1e11)
    assert peak_flops(CPU, "fp32", cache)[0] == 1e11 and peak_flops(CPU, "fp32", cache)[0] == 1e11
    assert probes == [torch.float32]
    _flags(monkeypatch)
    assert "fp32 matrix product" in peak_flops(CPU, "bf16", cache)[1]  # emulated bf16: compared with fp32's peak
    assert probes == [torch.float32]
    monkeypatch.setattr(hardware, "torch_version", lambda: "99.0")
    peak_flops(CPU, "fp32", cache)
    assert probes == [torch.float32, torch.float32]


def test_the_real_probe_is_quick_and_plausible():
    value = hardware.matmul_flops_per_s(CPU, torch.float32)
    assert 1e8 < value < 1e14


def test_a_run_records_its_precision_why_and_its_share_of_the_peak(monkeypatch, cache, small, store):
    from workbench.present.report import comparison_rows, comparison_table

    monkeypatch.setattr(hardware, "matmul_flops_per_s", lambda device, dtype: 1e11)
    _flags(monkeypatch, "avx512_bf16")
    _timer(monkeypatch, 0.2, 0.1)
    monkeypatch.setattr(precision, "MIN_CALIBRATED_FLOPS", 0)  # this tiny run counts as worth a calibration
    record = train_run(small, store)
    environment = record.environment
    assert environment["precision"] == "bf16"
    assert "2.00x as fast" in environment["precision_reason"] and environment["peak_flops_per_s"] == 1e11
    summary = store.load(record.run_id).summary()
    last = record.epochs[-1]
    assert summary["flops_per_s"] == pytest.approx(last.train_flops / last.cum_s)
    assert summary["peak_share"] == pytest.approx(summary["flops_per_s"] / 1e11)
    assert summary["precision"] == "bf16" and metric("peak_share").cost
    rows = comparison_rows({"transfer": summary, "scratch": summary})
    assert ("precision", "bf16", "bf16") in rows and any(label == "share of peak" for label, _, _ in rows)
    assert "precision: auto: native bfloat16" in comparison_table({"transfer": summary, "scratch": summary,
                                                                   "comparison_id": "c-1"})


def test_a_run_too_small_to_repay_a_calibration_keeps_fp32_without_one_and_says_why(monkeypatch, cache, small,
                                                                                   store):
    """Seen: on a CPU with native bf16, every new tiny setting (a test's, a student's first try) spent about 2 s
    timing fp32 against bf16 before a run of a second or two."""
    monkeypatch.setattr(hardware, "matmul_flops_per_s", lambda device, dtype: 1e11)
    _flags(monkeypatch, "amx_bf16")
    calls = _timer(monkeypatch, 0.2, 0.1)
    record = train_run(small, store)
    assert calls == [] and record.environment["precision"] == "fp32"
    assert "this run trains only" in record.environment["precision_reason"]
    assert "would cost more than bf16 could save" in record.environment["precision_reason"]
    larger = replace(small, epochs=1000)  # the same setting, for long enough: timed, and bf16 where faster
    assert choose_precision(larger, CPU, train_images=15).name == "bf16" and len(calls) == 1
    assert choose_precision(small, CPU).name == "bf16"  # no size known: the kept calibration decides


def test_precision_calibrations_asked_for_at_once_measure_one_at_a_time_and_once_each(monkeypatch, cache, small):
    """An estimate on each of a page's quick reruns, a run starting: like the rates' calibrations, they wait their
    turn (none measured beside another) and take what the first one kept."""
    from concurrent.futures import ThreadPoolExecutor

    measuring, measured = [], []

    def slow(config):
        measuring.append(config)
        time.sleep(0.3)
        assert len(measuring) == 1, "two calibrations measured at once"
        measuring.pop()
        measured.append(config.image_size)
        return {"fp32": 0.2, "bf16": 0.1}

    monkeypatch.setattr(precision, "step_seconds", slow)
    asked = [small] * 3 + [replace(small, image_size=48)]
    with ThreadPoolExecutor(len(asked)) as pool:
        answers = list(pool.map(lambda config: precision.calibration(config, CPU), asked))
    assert sorted(measured) == [32, 48] and [seconds for seconds, _ in answers[:3]] == [{"fp32": 0.2, "bf16": 0.1}] * 3
    assert sum(now for _, now in answers) == 2


def test_a_record_from_before_precision_still_loads(monkeypatch, cache, small, store):
    _flags(monkeypatch)
    monkeypatch.setattr(hardware, "matmul_flops_per_s", lambda device, dtype: 1e11)
    data = train_run(replace(small, precision="fp32"), store).to_dict()
    for flag, expected in ((True, "bf16"), (False, "fp32")):
        config = {k: v for k, v in data["config"].items() if k != "precision"}
        environment = {k: v for k, v in data["environment"].items()
                       if k not in ("precision", "precision_reason", "peak_flops_per_s", "peak_measured_with")}
        environment["mixed_precision"] = "cpu-bf16" if flag else "off"
        old = RunRecord.from_dict({**data, "config": {**config, "cpu_bf16": flag}, "environment": environment})
        assert RunConfig.of(old).precision == expected and old.precision() == expected
        summary = old.summary()
        assert summary["peak_share"] is None and metric("peak_share").format(summary["peak_share"]) == "-"
        assert summary["precision_reason"] is None


def test_the_seeds_of_one_setting_give_one_precision_and_one_reason():
    from workbench.experiments.comparisons import aggregate

    records = [RunRecord(f"r-{seed}", {"seed": seed},
                         environment={"precision": "fp32", "precision_reason": f"why {seed}"}) for seed in (0, 1)]
    summary = aggregate(records)
    assert (summary["precision"], summary["precision_reason"]) == ("fp32", "why 0")
    assert summary["peak_share"] is None and summary["flops_per_s"] is None  # no epochs yet: nothing to divide
