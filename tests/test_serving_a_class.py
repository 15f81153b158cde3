"""Issue 20 (1, 5, 6, 9): a class server and a teacher's page that are safe to serve.

The teacher's Stop reaches a student's job, never the server that serves the class; a page belongs to the
browser that opened it, not to whoever has a copy of its address; teacher mode listens on 127.0.0.1, and
anywhere else asks for a secret; one Launch asks for no more than the teacher allows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import streamlit as st
from app_pages import app_page
from lesson_text import tiny_lesson
from streamlit.testing.v1 import AppTest

from workbench.cli.main import main
from workbench.core.errors import ConfigError
from workbench.core.settings import TEACHER_SECRET_ENV
from workbench.jobs.board import JobBoard
from workbench.jobs.job import Job
from workbench.jobs.queue import JobQueue
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.limits import LIMITS, LimitError, Limits, count_values
from workbench.spec.options import SWEEPABLE, sweep_hint
from workbench.store.predictions import Predictions
from workbench.store.runs import RunStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


# --- 9. limits on one Launch --------------------------------------------------------------------------------------

def test_the_default_limits_take_the_default_comparison_and_every_suggested_sweep():
    Limits().check([ComparisonConfig()])
    for name in SWEEPABLE:
        Limits().check_request(count_values(sweep_hint(name)), "0")


@pytest.mark.parametrize("ask, flag", [
    (lambda limits: limits.check_request(300 * 300, "0"), "--max-runs-per-launch"),
    (lambda limits: limits.check_request(1, " ".join(map(str, range(1000)))), "--max-seeds"),
    (lambda limits: limits.check([ComparisonConfig(RunConfig(epochs=500))]), "--max-epochs"),
    (lambda limits: limits.check([ComparisonConfig(RunConfig(image_size=224))]), "--max-image-size"),
    (lambda limits: limits.check([ComparisonConfig(seeds=list(range(13)))] * 1), "--max-seeds"),
    (lambda limits: limits.check([ComparisonConfig()] * 13), "--max-runs-per-launch"),
    (lambda limits: limits.check_queued(1), "--max-queued-per-person"),
])
def test_a_refusal_is_one_line_naming_the_limit_and_how_the_teacher_changes_it(ask, flag):
    with pytest.raises(LimitError) as refused:
        ask(Limits())
    line = str(refused.value)
    assert "\n" not in line and f"workbench dashboard {flag} N" in line and "this server takes at most" in line
    ask(Limits.unlimited())  # the command line's (and the teacher page's): anything goes
    ask(Limits.of({limit.name: 0 for limit in LIMITS}))  # 0 lifts a limit


def test_limits_come_from_the_servers_flags_and_a_negative_one_is_refused(monkeypatch):
    from workbench.dashboard.server import server_options

    monkeypatch.setattr(sys, "argv", ["dashboard.py", "--max-epochs", "0", "--max-seeds", "5"])
    limits = server_options().limits
    assert limits.max_epochs is None and limits.max_seeds == 5 and limits.max_runs_per_launch == 24
    monkeypatch.setattr(sys, "argv", ["dashboard.py", "--teacher"])
    assert server_options().limits is None  # the teacher's own page is not limited
    with pytest.raises(ConfigError, match="--max-seeds takes 0"):
        Limits.of({"max_seeds": -1})


# --- AppTest pages ------------------------------------------------------------------------------------------------

@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A class server's run folder in which one slot (K = 1) is held by someone else's job: a page's Launch
    waits in line, and nothing trains."""
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("WORKBENCH_MAX_JOBS", "1")
    monkeypatch.setattr(sys, "argv", ["dashboard.py"])
    st.cache_resource.clear()
    queue = JobQueue(tmp_path / "runs")
    queue.try_start(queue.add("someone-else", "Grace", pid=os.getpid()), 1)
    return tmp_path / "runs"


def _page(session: str | None = None, browser: AppTest | None = None, argv: tuple = ()) -> AppTest:
    """A page of a server started with ``argv`` (none: a plain one)."""
    return app_page(session, browser, argv)


def _as_shown(text: str) -> str:
    """As an error on a page reads it in Markdown (every punctuation mark escaped: `dashboard.text.plain`)."""
    from workbench.dashboard.text import plain

    return plain(text)


def _keys(at: AppTest) -> set[str]:
    return {w.key for w in [*at.button, *at.text_input, *at.number_input, *at.selectbox] if w.key}


def test_a_grid_of_90000_comparisons_or_1000_seeds_is_refused_at_once_and_nothing_is_queued(runs):
    at = _page()
    at.radio(key="mode").set_value("sweep").run()
    at.selectbox(key="sweep").set_value("lr").run()
    at.selectbox(key="sweep2").set_value("epochs").run()
    at.text_input(key="sweep_values:lr:efficientnet_lite0").set_value("0.001 " * 300).run()
    at.text_input(key="sweep_values:epochs:efficientnet_lite0").set_value("1 " * 300).run()
    started = time.monotonic()
    at.button(key="launch").click().run()
    assert time.monotonic() - started < 30  # refused before 90,000 comparisons were built
    (error,) = at.sidebar.error
    assert _as_shown("180,000 runs") in error.value and _as_shown("--max-runs-per-launch") in error.value
    at.radio(key="mode").set_value("comparison").run()
    at.text_input(key="seeds").set_value(" ".join(map(str, range(1000)))).run()
    at.number_input(key="epochs").set_value(500).run()
    at.button(key="launch").click().run()
    assert _as_shown("1,000 seeds") in at.sidebar.error[0].value
    assert len(JobQueue(runs).jobs()) == 1  # only the job that was already there


def test_one_person_has_one_job_in_the_queue_whichever_tab_launches_it(runs):
    first = _page()
    first.selectbox(key="dataset").set_value("digits:0-4").run()
    first.button(key="launch").click().run()  # it waits behind Grace's job
    assert "number 1 in line" in first.get("progress")[0].proto.text
    tab = _page(browser=first)  # a second page of the same browser
    tab.button(key="launch").click().run()
    assert _as_shown("--max-queued-per-person") in tab.sidebar.error[0].value
    other = _page()  # someone else may
    other.selectbox(key="dataset").set_value("digits:0-4").run()
    other.button(key="launch").click().run()
    assert not other.sidebar.error and len(JobQueue(runs).jobs(("queued",))) == 2
    first.button(key="stop").click().run()
    other.button(key="stop").click().run()


# --- 5. a copied address is not a password ------------------------------------------------------------------------

def test_a_copied_address_shows_the_pages_progress_read_only_and_a_reload_is_still_its_owner(runs):
    served = ("--data-root", str(runs.parent))  # a folder students' image folders may be in
    ada = _page(argv=served)
    ada.text_input(key="student_name").set_value("Ada").run()
    ada.selectbox(key="dataset").set_value("your image folder").run()
    ada.text_input(key="dataset_folder").set_value(str(runs.parent / "ada's photos")).run()
    ada.selectbox(key="dataset").set_value("digits:0-4").run()
    ada.button(key="launch").click().run()
    address = ada.query_params["session"]

    copy = _page(address, argv=served)  # the same address, in another browser
    assert any("read-only" in i.value for i in copy.info)
    assert "number 1 in line" in copy.get("progress")[0].proto.text  # its progress
    assert not _keys(copy) & {"stop", "launch", "student_name", "dataset_folder", "epochs", "dataset"}
    assert not len(copy.sidebar.button) and not len(copy.sidebar.text_input)
    shown = " ".join(str(e.value) for kind in ("markdown", "caption", "info", "text") for e in copy.get(kind))
    assert "Ada" not in shown and "photos" not in shown and str(runs) not in shown

    reload = _page(address, browser=ada, argv=served)  # the same browser: still Ada
    assert not reload.button(key="stop").disabled and reload.text_input(key="student_name").value == "Ada"
    assert reload.selectbox(key="dataset").value == "digits:0-4"  # her settings came back
    reload.button(key="stop").click().run()
    copy.run()
    assert "left the queue" in copy.info[-1].value and not _keys(copy) & {"stop", "launch"}


# --- 6. teacher mode: loopback, or a secret -------------------------------------------------------------------------

class _Started(Exception):
    pass


@pytest.fixture
def started(monkeypatch):
    """`workbench dashboard` up to the point where it becomes Streamlit: the command it would run."""
    commands = []

    def execv(path, command):
        commands.append(command)
        raise _Started

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.setenv(TEACHER_SECRET_ENV, "")  # restored after the test: the command sets it for the server
    return commands


def _dashboard(*args: str) -> None:
    with pytest.raises(_Started):
        main(["dashboard", *args])


def test_teacher_mode_listens_on_loopback_unless_told_otherwise(started, capsys):
    _dashboard("--teacher")
    command = started[-1]
    assert command[command.index("--server.address") + 1] == "127.0.0.1" and command.count("--server.address") == 1
    assert not os.environ[TEACHER_SECRET_ENV] and "secret" not in capsys.readouterr().err
    _dashboard("--max-jobs", "2")  # a class server: Streamlit's own default, as before
    assert "--server.address" not in started[-1]


def test_teacher_mode_told_another_address_makes_a_secret_or_takes_one(started, capsys):
    _dashboard("--teacher", "--server.address", "0.0.0.0")
    printed = re.search(r"teacher secret: (\S+)", capsys.readouterr().err)
    assert printed and os.environ[TEACHER_SECRET_ENV] == printed.group(1) and len(printed.group(1)) >= 12
    assert printed.group(1) not in " ".join(started[-1])  # not on the server's command line, where `ps` shows it
    assert started[-1][started[-1].index("--server.address") + 1] == "0.0.0.0"
    _dashboard("--teacher", "--server.address=192.168.1.5", "--teacher-secret", "our own")
    assert os.environ[TEACHER_SECRET_ENV] == "our own" and "secret" not in capsys.readouterr().err
    assert main(["dashboard", "--teacher-secret", "x"]) == 2  # a secret without teacher mode is a mistake


def test_the_limits_travel_to_the_server_and_a_negative_one_is_refused(started, capsys):
    _dashboard("--max-runs-per-launch", "100", "--max-epochs", "0")
    assert started[-1][-5:] == ["--", "--max-runs-per-launch", "100", "--max-epochs", "0"]
    assert main(["dashboard", "--max-seeds", "-1"]) == 2 and "--max-seeds" in capsys.readouterr().err


def test_a_networked_teacher_page_opens_only_with_the_secret(runs, monkeypatch):
    monkeypatch.setenv(TEACHER_SECRET_ENV, "open sesame")
    teacher = _page(argv=("--teacher",))
    assert not any("teacher mode" in c.value for c in teacher.caption) and not teacher.get("expander")
    assert not {"launch", "stop"} & _keys(teacher)
    teacher.text_input(key="_teacher_typed").set_value("open says me").run()
    assert "not the teacher secret" in teacher.error[0].value and not teacher.get("expander")
    teacher.text_input(key="_teacher_typed").set_value("open sesame").run()
    assert any("teacher mode" in c.value for c in teacher.caption)
    assert any("training queue" in e.label for e in teacher.expander)  # Grace's job, with its Stop
    assert "_teacher_typed" not in _keys(teacher)


def test_a_teacher_page_beyond_this_machine_without_a_secret_stays_closed(runs, monkeypatch):
    monkeypatch.delenv(TEACHER_SECRET_ENV, raising=False)
    st.config.set_option("server.address", "0.0.0.0")  # `streamlit run dashboard.py -- --teacher` on every interface
    teacher = _page(argv=("--teacher",))
    assert "stays closed" in teacher.error[0].value and not teacher.get("expander") and not _keys(teacher)


# --- 1. the teacher's Stop reaches the job, never a server ----------------------------------------------------------

def test_a_stop_from_another_process_never_signals_the_server_that_holds_the_job(tmp_path):
    """Seen: the teacher's Stop sent SIGINT to the pid in the queue row: for a dashboard job, the class server."""
    server, terminal = subprocess.Popen(SLEEPER), subprocess.Popen(SLEEPER)
    try:
        queue = JobQueue(tmp_path)
        served = queue.add("a-page", "Ada", pid=server.pid)  # held by a class server
        typed = queue.add("cli:ada", "ada", pid=terminal.pid, holder="process")  # a terminal's `workbench compare`
        assert queue.try_start(served, 2) and queue.try_start(typed, 2)
        queue.stop(served)
        queue.stop(typed)
        assert terminal.wait(timeout=30) != 0  # a terminal's job is its process: it gets the Ctrl-C
        time.sleep(0.5)
        assert server.poll() is None  # the server lives on
        assert queue.look([served])[served]["stop_asked"]  # and is asked, in the queue, to stop its job
    finally:
        for process in (server, terminal):
            process.kill()
            process.wait()


def test_a_server_carries_out_the_teachers_stop_and_taking_off_the_line(tmp_path, tiny):
    store = RunStore(tmp_path / "runs")
    board = JobBoard(store.root, max_jobs=1, poll_s=0.1)
    long = board.launch(Job([ComparisonConfig(replace(tiny, epochs=300), seeds=[0])], store, owner="page-a"))
    waiting = board.launch(Job([ComparisonConfig(tiny, seeds=[1])], store, owner="page-b"))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not any(r.epochs for r in store.scan()[0]):
        time.sleep(0.2)
    teacher = JobQueue(store.root)  # the teacher's server: another process, as far as the queue knows
    teacher.stop(waiting.job_id)
    teacher.stop(long.job_id)
    long.wait(timeout=120)
    assert long.state == "interrupted" and long.stopped_by == "the teacher"
    assert waiting.state == "cancelled" and "by the teacher" in waiting.message
    time.sleep(0.5)
    assert [job["state"] for job in teacher.jobs()] == ["interrupted", "cancelled"]
    records = {record.role: record for record in store.scan()[0]}  # (a scratch run too, where the two ran at once)
    assert records["transfer"].status == "interrupted" and 1 <= len(records["transfer"].epochs) < 300
    assert all(r.status == "interrupted" and len(r.epochs) < 300 for r in records.values())


# --- in Chromium: a class server and a teacher server on one run folder ---------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    playwright = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}; apt-get install chromium")
    from servers import CHROMIUM_ARGS

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def class_and_teacher(tmp_path_factory):
    """The README's set-up: a class server, and the teacher's server on the same run folder, here on every
    interface (so with a secret, printed at start)."""
    from dashboard_pages import class_server, teacher_server

    runs = tmp_path_factory.mktemp("class") / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    with class_server(runs, "--max-epochs", "0", env=env) as school, \
            teacher_server(runs, "--server.address", "0.0.0.0", env=env) as teacher:
        yield school, teacher, RunStore(runs)


def _student(chromium, school, name: str):
    from dashboard_pages import open_page, set_up_tiny

    page = chromium.new_context(viewport={"width": 1200, "height": 800}).new_page()
    open_page(page, school.url)
    set_up_tiny(page, seed=len(name), epochs=300, name=name)
    page.get_by_role("button", name="Launch").click()
    page.get_by_text(re.compile(r"epoch \d+/300")).first.wait_for(timeout=180_000)
    return page


def _ended(store: RunStore, timeout: float = 120) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = store.scan()[0]
        if records and all(r.status != "running" for r in records):
            return records
        time.sleep(0.5)
    pytest.fail("the stopped job's runs never ended")


def test_the_teachers_stop_ends_a_students_job_and_the_class_server_keeps_serving(chromium, class_and_teacher):
    from dashboard_pages import open_page, open_teacher_page, teacher_stop
    from servers import answers

    school, teacher_server, store = class_and_teacher
    ada = _student(chromium, school, "Ada")
    teacher = chromium.new_context(viewport={"width": 1200, "height": 800}).new_page()
    open_teacher_page(teacher, teacher_server)  # asks for the secret printed at start
    teacher.reload()
    teacher.get_by_text("teacher mode").first.wait_for(timeout=60_000)  # kept by this browser: not asked again
    assert teacher.get_by_label("teacher secret").count() == 0
    teacher_stop(teacher, "Ada")
    ada.get_by_text("stopped by the teacher").wait_for(timeout=120_000)
    (record, *others) = _ended(store)
    assert record.status == "interrupted" or any(r.status == "interrupted" for r in others)
    assert school.process.poll() is None and answers(f"{school.url}/_stcore/health", school.process, 10, b"ok")
    assert "Stopping..." not in school.log  # Streamlit's words on a SIGINT
    assert [job["state"] for job in JobQueue(store.root).jobs()] == ["interrupted"]
    open_page(ada.context.new_page(), school.url)  # the class's server still serves new pages
    ada.context.close()
    teacher.context.close()


def test_a_copied_address_shows_progress_read_only_in_another_browser(chromium, class_and_teacher):
    school, _, store = class_and_teacher
    grace = _student(chromium, school, "Grace")
    copy = chromium.new_context(viewport={"width": 1200, "height": 800}).new_page()
    copy.goto(grace.url)  # the address as pasted in a chat
    copy.get_by_text("read-only").wait_for(timeout=60_000)
    copy.get_by_text(re.compile(r"epoch \d+/300")).first.wait_for(timeout=60_000)  # its progress, live
    assert copy.get_by_role("button", name="Stop").count() == 0 and copy.get_by_role("button", name="Launch").count() == 0
    assert copy.get_by_label("your name (shown on the class board)").count() == 0
    assert "Grace" not in copy.content() and str(store.root) not in copy.content()
    grace.reload()  # the same browser: still Grace's page
    grace.get_by_role("button", name="Launch").wait_for(timeout=60_000)
    from playwright.sync_api import expect  # (the module fixture skips the test where playwright is missing)

    expect(grace.get_by_label("your name (shown on the class board)")).to_have_value("Grace", timeout=30_000)
    grace.locator("[data-testid='stSidebar']").get_by_role("button", name="Stop").click()
    grace.get_by_text("every finished epoch was saved").wait_for(timeout=120_000)
    copy.get_by_text("every finished epoch was saved").wait_for(timeout=60_000)
    grace.context.close()
    copy.context.close()


TINY_LESSON = tiny_lesson("How deep should we freeze? (tiny)", epochs=2,
                          question="Which network reaches 90 % validation accuracy first, and how high does each end?",
                          instructions="Pick a freeze depth, **predict**, then Launch.", extra="require_prediction = true")
SHOTS = os.environ.get("WORKBENCH_SHOTS")  # a folder for 1280x800 screenshots (the README's: WORKBENCH_SHOTS=docs)


PLOTS_SAYING = """(words) => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(plot => plot.data && JSON.stringify([plot.layout, plot.data.map(t => t.name)]).includes(words))"""


def _plotted(page, words: str) -> list[dict]:
    """The traces of the plotly charts on ``page`` whose axes or legend say ``words``: names and points (once one
    is drawn: a chart is drawn a moment after its element shows)."""
    page.wait_for_function(f"({PLOTS_SAYING})({words!r}).length > 0", timeout=30_000)
    return page.evaluate(f"""(words) => ({PLOTS_SAYING})(words)
        .flatMap(plot => plot.data.map(t => ({{name: t.name, x: [...(t.x || [])], y: [...(t.y || [])]}})))""", words)


def _predict_and_launch(chromium, school, name: str, depth: str, first: str, numbers: tuple[str, str, str]):
    from dashboard_pages import fill, open_page

    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    open_page(page, school.url)
    bar = page.locator("[data-testid='stSidebar']")
    bar.get_by_text("Lesson: How deep should we freeze? (tiny)").wait_for(timeout=60_000)
    assert bar.get_by_label("backbone", exact=True).count() == bar.get_by_label("epochs", exact=True).count() == 0
    assert bar.get_by_text("what to run").count() == 0  # a lesson runs one comparison per Launch: no sweeps
    fill(page, "your name (shown on the class board)", name)
    bar.get_by_role("radiogroup", name="freeze depth (stages)").get_by_text(depth, exact=True).click()
    bar.get_by_role("button", name="Launch").click()
    bar.get_by_text("your teacher asks for a prediction first").wait_for(timeout=30_000)
    bar.get_by_role("radiogroup", name=re.compile("first to 90 %")).get_by_text(first, exact=True).click()
    for label, value in zip(("by how many epochs sooner", "transfer's test accuracy (%)",
                             "scratch's test accuracy (%)"), numbers):
        fill(page, label, value)
    bar.get_by_role("button", name="Launch").click()
    return page


def test_a_lesson_reaches_the_class_and_the_board_draws_predictions_against_results(chromium, class_and_teacher,
                                                                                      tmp_path):
    """The teacher hands out a lesson file from the teacher's page; two students see only its setting, predict,
    launch; each sees the prediction beside the result, and the board draws both against the diagonal and the
    lesson's line."""
    from dashboard_pages import open_teacher_page

    school, teacher_server, store = class_and_teacher
    teacher = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    open_teacher_page(teacher, teacher_server)
    teacher.get_by_role("tab", name="Class board").click()
    teacher.get_by_text("the class's lesson: none").wait_for(timeout=60_000)  # open while the class has none
    teacher.locator("[data-testid='stSelectbox']").filter(has_text=re.compile("^lesson")).click()
    teacher.get_by_role("option", name="a lesson file of yours").click()
    (tmp_path / "freeze.toml").write_text(TINY_LESSON)
    teacher.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(tmp_path / "freeze.toml"))
    teacher.get_by_role("button", name="apply to the class").click()
    teacher.get_by_text("the class's lesson: How deep should we freeze? (tiny)").wait_for(timeout=60_000)

    ada = _predict_and_launch(chromium, school, "Ada", "0", "transfer", ("2", "80", "30"))
    grace = _predict_and_launch(chromium, school, "Grace", "6", "scratch", ("1", "60", "70"))
    for page in (ada, grace):
        page.get_by_text("your prediction beside the result").wait_for(timeout=240_000)
        page.get_by_text("you said").wait_for(timeout=30_000)
    assert len(_plotted(ada, "measured")) == 2  # predicted and measured bars
    if SHOTS:
        ada.get_by_text("your prediction beside the result").scroll_into_view_if_needed()
        ada.screenshot(path=f"{SHOTS}/lesson-page.png")

    teacher.reload()
    teacher.get_by_role("tab", name="Class board").click()
    teacher.get_by_text("2 students' latest predictions").wait_for(timeout=60_000)
    teacher.get_by_text("the lesson: How deep should we freeze? (tiny)").wait_for(timeout=30_000)
    traces = {t["name"]: t for t in _plotted(teacher, "predicted test accuracy")}
    assert traces["predicted = measured"]["x"] == [0, 1]  # the diagonal
    assert sorted(traces["transfer"]["y"]) == [0.6, 0.8] and sorted(traces["scratch"]["y"]) == [0.3, 0.7]
    line = {t["name"]: t for t in _plotted(teacher, "freeze depth")}
    assert sorted(line["transfer"]["x"]) == [0, 6]  # the lesson's line over the class's two depths
    if SHOTS:
        teacher.get_by_text("predicted against measured").scroll_into_view_if_needed()
        teacher.screenshot(path=f"{SHOTS}/lesson-board.png")
    predictions = {p.name: p for p in Predictions(store.root).all().values()}
    assert (predictions["Ada"].first, predictions["Grace"].transfer_acc) == ("transfer", 0.6)
    for page in (ada, grace, teacher):
        page.context.close()
