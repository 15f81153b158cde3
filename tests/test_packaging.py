"""The workbench as an installed command: from a built wheel, outside the checkout, and in a shell pipe.

The wheel is installed without dependencies into a fresh virtual environment (installing torch again
would download gigabytes); a .pth file lends it this environment's third-party packages, but not its
editable install of the checkout, and everything runs from a temporary folder, so what is tested is
what the wheel holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from servers import answers, free_port

from workbench.cli import serve
from workbench.cli.exits import EXIT_BROKEN_PIPE, EXIT_USAGE
from workbench.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
_SKIPPED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__",
                                  ".pytest_cache")


def NOT_SOURCE(folder: str, names: list[str]) -> set[str]:
    """What the wheel build leaves behind: caches and builds anywhere, run and data folders at the top only
    (``workbench/data`` is the package's own data layer)."""
    top = Path(folder) == ROOT
    return set(_SKIPPED(folder, names)) | ({"data"} if top and "data" in names else set())


def _run(command, cwd, timeout=180, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBENCH_RUNS")}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel from a copy of the checkout and install it into a new venv; paths to what matters."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)  # builds write build/ and *.egg-info beside the source
    # No build isolation: offline, and seconds instead of a fresh setuptools download.
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist"), str(source)],
         cwd=tmp)
    wheel = next((tmp / "dist").glob("*.whl"))

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         cwd=tmp)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp).stdout.strip())
    lent = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "checkout_dependencies.pth").write_text("\n".join(sorted(lent)) + "\n")
    work = tmp / "work"
    work.mkdir()
    return {"wheel": wheel, "venv": venv, "python": python, "workbench": venv / "bin" / "workbench", "work": work}


def test_wheel_holds_the_app_and_the_tutorials(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "workbench").rglob("*.py") if "__pycache__" not in p.parts}
    assert not sources - set(names), "add their packages to [tool.setuptools] packages in pyproject.toml"
    assert {"workbench/__init__.py", "workbench/dashboard/app.py", "workbench/dashboard/script.py"} <= set(names)
    assert {f"workbench/notebooks/{name}" for name in TUTORIALS} <= set(names)
    assert {f"workbench/lessons/{p.name}" for p in (ROOT / "lessons").glob("*.toml")} <= set(names)
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "dashboard.py"))]


def test_the_installed_package_is_the_one_imported(installed):
    out = _run([str(installed["python"]), "-c", "import workbench; print(workbench.__file__)"],
               cwd=installed["work"]).stdout.strip()
    assert Path(out).is_relative_to(installed["venv"]), out


def test_installed_compare_runs(installed):
    runs = installed["work"] / "runs"
    out = _run([str(installed["workbench"]), "compare", "--epochs", "1", "--dataset", "digits:0-2",
                "--train-per-class", "4", "--image-size", "32", "--device", "cpu", "--runs-dir", str(runs), "--json"],
               cwd=installed["work"]).stdout
    json.loads(out)
    records = [json.loads(p.read_text()) for p in runs.glob("*/record.json")]
    assert sorted((r["role"], r["status"], len(r["epochs"])) for r in records) == [
        ("scratch", "completed", 1), ("transfer", "completed", 1)]


def test_installed_dashboard_answers_its_health_check(installed):
    port = free_port()
    server = subprocess.Popen(
        [str(installed["workbench"]), "dashboard", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--runs-dir", str(installed["work"] / "runs")],
        cwd=installed["work"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if not answers(f"http://127.0.0.1:{port}/_stcore/health", server, 90, b"ok"):
            server.kill()
            pytest.fail(f"the dashboard did not answer on port {port}:\n{server.communicate()[0]}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_installed_dashboard_page_draws(installed):
    # The health check answers before any page is drawn: draw one, from the installed runner script.
    draw = ("import pathlib, workbench\n"
            "from streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file(str(pathlib.Path(workbench.__file__).parent / 'dashboard' / 'script.py'),"
            " default_timeout=120)\n"
            "at.run()\n"
            "assert not at.exception, at.exception\n"
            "print(at.title[0].value)\n")
    assert _run([str(installed["python"]), "-c", draw], cwd=installed["work"]).stdout.strip() == "Transfer Workbench"


def test_installed_lessons_are_found_and_pass_their_check(installed):
    out = _run([str(installed["workbench"]), "lesson", "list"], cwd=installed["work"]).stdout
    shipped = sorted(p.stem for p in (ROOT / "lessons").glob("*.toml"))
    assert [line.split()[0] for line in out.splitlines()] == shipped and len(shipped) == 4
    checked = _run([str(installed["workbench"]), "lesson", "check", *shipped], cwd=installed["work"]).stdout
    assert checked.count("ok:") == 4


def test_installed_notebooks_are_copied_out(installed):
    target = installed["work"] / "tutorials"
    out = _run([str(installed["workbench"]), "notebooks", str(target)], cwd=installed["work"]).stdout
    assert sorted(p.name for p in target.glob("*.ipynb")) == TUTORIALS and len(TUTORIALS) >= 5
    assert f"jupyter lab {target}" in out


def test_a_closed_pipe_ends_the_command_quietly():
    # The reader has closed its end before the command writes (as `head` has once it has its lines), so
    # every write meets a broken pipe: without the handling in main() this prints a BrokenPipeError traceback.
    command = Path(sys.executable).with_name("workbench")
    writer = subprocess.Popen([str(command), "backbones", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer.stdout.close()
    stderr = writer.stderr.read().decode()
    assert writer.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert stderr == ""


def test_dashboard_command_keeps_the_checkout_settings_and_passes_options_through():
    command = serve.streamlit_command(["--server.port", "8600", "--", "--runs-dir", "a"])
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(command[4]) == Path(serve.__file__).parent.parent / "dashboard" / "script.py"
    settings = command[5:]
    assert settings.index("--server.fileWatcherType") < settings.index("--server.port")  # the user's flags win
    assert settings[settings.index("--browser.gatherUsageStats") + 1] == "false"
    assert settings[-3:] == ["--", "--runs-dir", "a"]
    assert serve.streamlit_command([], runs_dir="b")[-3:] == ["--", "--runs-dir", "b"]


def test_notebooks_refuses_to_overwrite_without_force(tmp_path, capsys):
    assert main(["notebooks", str(tmp_path)]) == 0
    edited = tmp_path / TUTORIALS[0]
    edited.write_text("a student's work")
    assert main(["notebooks", str(tmp_path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--force" in err
    assert edited.read_text() == "a student's work"
    assert main(["notebooks", str(tmp_path), "--force"]) == 0
    assert edited.read_text() == (ROOT / "notebooks" / TUTORIALS[0]).read_text()


def test_options_meant_for_streamlit_are_refused_elsewhere(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["datasets", "--server.port", "8600"])
    assert exit_.value.code == EXIT_USAGE
    assert "unrecognized arguments: --server.port 8600" in capsys.readouterr().err


def test_the_installed_dashboard_passes_every_setting_of_the_checkout_config():
    """`workbench dashboard` runs where no .streamlit/config.toml is read: its flags must say all the file says."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    flags = dict(zip(serve.STREAMLIT_SETTINGS[::2], serve.STREAMLIT_SETTINGS[1::2]))
    for section, values in config.items():
        for name, value in values.items():
            assert flags.get(f"--{section}.{name}") == (str(value).lower() if isinstance(value, bool) else str(value))
    assert flags["--server.showEmailPrompt"] == "false"


def test_the_first_start_on_a_desktop_never_asks_for_an_email(tmp_path):
    """The README's first command, on a desktop (a display, so Streamlit is not headless), with a home folder that
    has never run Streamlit and a terminal to ask in: it must serve, without an 'Email:' prompt to stop at and
    without a notice that usage statistics are collected."""
    import pty

    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    (bin_dir / "xdg-open").write_text("#!/bin/sh\nexit 0\n")  # the browser it opens on a desktop: none here
    (bin_dir / "xdg-open").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "WORKBENCH_"))}
    env.update(HOME=str(home), DISPLAY=":0", PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1",
               WORKBENCH_RUNS=str(tmp_path / "runs"))
    terminal, keyboard = pty.openpty()  # stdin is a terminal: where Streamlit would prompt
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
                               "--server.address", "127.0.0.1"], cwd=ROOT, env=env, stdin=keyboard,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        served = answers(f"http://127.0.0.1:{port}/_stcore/health", server, 90)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
        os.close(terminal)
        os.close(keyboard)
    assert served, output
    assert "Email" not in output and "usage statistics" not in output, output
    assert not (home / ".streamlit" / "credentials.toml").exists()
