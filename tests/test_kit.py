"""The starter kit as a student uses it, against what the server gives for the same file and seeds.

The kit is downloaded from a running portal, unzipped into an empty folder and run with a fresh virtual
environment holding only what its README tells a student to install (numpy, from the lock). The server's
side is the same file uploaded over HTTP and graded through the Docker sandbox. q1 agrees to 1e-9 on the
host's NumPy and to the last bit on the sandbox's own stack (check.py run inside the sandbox image); q2 gets
the same verdict (the kit scores the validation images, the server the test images); NumPy 2 runs it too.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from portal_support import SECRET, Account, Browser, make_course, served_grading
from sqlalchemy import select

from gradebook.db import make_engine, make_sessionmaker
from gradebook.models import GradingRun
from grader.config import AssignmentConfig
from nngrade.settings import Settings
from web.services import kit

REPO = Path(__file__).resolve().parent.parent
STAFF = REPO / "reference_solutions" / "staff" / "models.py"
BROKEN = REPO / "reference_solutions" / "broken" / "wrong_output_shape.py"
NUMPY2_LOCK = REPO / "tests" / "student_envs" / "numpy2" / "uv.lock"
STUDENT = Account("sofia", "sofia-password-1")
OTHER = Account("tomas", "tomas-password-1")
CHECK_TIMEOUT_S = 900


# ---------------------------------------------------------------------------------------------- archive


def test_the_archive_holds_the_kit_and_this_students_configuration() -> None:
    config = AssignmentConfig()
    data = kit.PublicData(Path("/nowhere/mnist-public.npz"), "ab" * 32, 12_000_000)
    manifest = kit.kit_manifest(config, {"slug": "nn", "title": "NN"}, "https://grader.example.edu",
                                "https://grader.example.edu/kit/data/T/mnist-public.npz", data)
    archive_bytes = kit.build_kit(manifest, "# readme\n")
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        names = set(archive.namelist())
        for name in ("README.md", "models.py", "nn.py", "backend.py", "regression_targets.txt", "check.py",
                     "kit.json", "grader/checker.py", "grader/grading.py", "grader/harness.py", "grader/kit/nn.py",
                     "grader/kit/regression_targets.txt", "grader/questions/q2_digits.py"):
            assert f"{kit.KIT_ROOT}/{name}" in names, name
        assert not any("__pycache__" in n or n.endswith((".pyc", ".npy", ".npz")) for n in names)
        assert archive.read(f"{kit.KIT_ROOT}/nn.py") == (REPO / "grader" / "kit" / "nn.py").read_bytes()
        shipped = json.loads(archive.read(f"{kit.KIT_ROOT}/kit.json"))
        compile(archive.read(f"{kit.KIT_ROOT}/check.py"), "check.py", "exec")
    assert AssignmentConfig.from_dict(shipped["config"]) == config
    assert shipped["data"] == {"url": "https://grader.example.edu/kit/data/T/mnist-public.npz",
                               "sha256": "ab" * 32, "bytes": 12_000_000}
    assert kit.build_kit(manifest, "# readme\n") == archive_bytes  # same contents, same bytes


@pytest.mark.parametrize("template", [
    "{x:.4f}", "{x:.6f}", "{x:.2%}", "{x:.1%}", "{x:.0%}", "{x:g}", "{x:.3g}", "{x}", "{n}", "{n:d}",
])
@pytest.mark.parametrize("language", ["es", "en"])
def test_the_kits_number_notation_is_the_portals(template: str, language: str) -> None:
    """check.py writes numbers as the portal's Babel does, with the standard library alone."""
    from grader.plain_locale import PlainFormatter
    from web.i18n import format_message

    for x, n in [(0.0049, 5), (0.9746, 60000), (12345.678, 1234), (-0.5, -70000), (0.0, 0), (1e-07, 999)]:
        assert PlainFormatter(language).vformat(template, (), {"x": x, "n": n}) == \
            format_message(template, {"x": x, "n": n}, language), (template, x, n)


def test_check_py_without_arguments_checks_every_question() -> None:
    """`python check.py` alone, as the README says (argparse refused an empty list with choices before 3.12)."""
    from grader.checker import CheckError, Speaker, _parse

    kit_json = {"config": AssignmentConfig().to_dict()}
    assert _parse([], kit_json, Speaker("en")).questions == []
    assert _parse(["q2"], kit_json, Speaker("en")).questions == ["q2"]
    with pytest.raises(CheckError, match="there is no question q3"):
        _parse(["q3"], kit_json, Speaker("en"))


@pytest.mark.parametrize(("language", "expected"), [
    ("es", ["Pregunta", "pérdida de validación 0,300000", "<= 0,02", "por debajo del objetivo"]),
    ("en", ["Question", "validation loss 0.300000", "<= 0.02", "below the goal", "Final loss 0.300000"]),
])
def test_the_checkers_table_in_each_language(tmp_path: Path, language: str, expected: list[str]) -> None:
    """What check.py prints for a question scored on the validation images, in the kit's language."""
    from dataclasses import replace

    from scripted import ScriptedRunner

    from grader.checker import Speaker
    from grader.grading import grade_submission
    from grader.text_report import render_table

    submission = tmp_path / "models.py"
    submission.write_text("# a submission\n")
    report = grade_submission(submission, AssignmentConfig(questions=("q1",)), ScriptedRunner({0: 0.5, 1: 0.3}),
                              tmp_path)
    report = replace(report, questions=tuple(replace(q, scored_on="validation") for q in report.questions))
    t = Speaker(language, REPO / "web" / "translations")
    table = render_table(report, say=t.message, words=t)
    for text in expected:
        assert text in table, (text, table)


# ------------------------------------------------------------------------------------ a running portal


@dataclass
class Portal:
    url: str
    settings: Settings


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, docker_engine: object) -> Iterator[Portal]:
    """A portal whose uploads are graded at once in this process, through the Docker sandbox."""
    root = tmp_path_factory.mktemp("kit-portal")
    settings = Settings(var_dir=root, database_url=f"sqlite:///{root / 'db.sqlite3'}",
                        redis_url="redis://127.0.0.1:1/0", storage_dir=root / "subs", data_dir=data_dir,
                        runner="docker", secret_key=SECRET, session_cookie_secure=False, upload_min_interval_s=0)
    make_course(settings, [STUDENT, OTHER])
    with served_grading(settings, join_timeout_s=900) as url:
        yield Portal(url, settings)


def _student(portal: Portal, account: Account = STUDENT) -> Browser:
    user = Browser(portal.url)
    assert user.log_in(account.username, account.password).status_code == 200
    return user


def _unzipped_kit(portal: Portal, into: Path, account: Account = STUDENT, language: str = "en") -> Path:
    """The kit as the student gets it: the page's link, the archive, an empty folder."""
    user = _student(portal, account)
    user.http.headers["Accept-Language"] = language
    page = user.get("/kit/")
    assert page.status_code == 200 and "/kit/nn/nngrade-starter-kit.zip" in page.text
    archive = user.get("/kit/nn/nngrade-starter-kit.zip")
    assert archive.status_code == 200 and archive.headers["Content-Type"] == "application/zip"
    into.mkdir()
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        z.extractall(into)
    return into / kit.KIT_ROOT


def _venv(where: Path, requirement: str) -> Path:
    """A fresh virtual environment with only `requirement` (hash-checked) installed; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    (where / "requirement.txt").write_text(requirement + "\n")
    subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--require-hashes", "-r", str(where / "requirement.txt")],
                   check=True, capture_output=True, timeout=600)
    return where / "bin" / "python"


def _locked(name: str, lock: Path | None = None) -> str:
    command = [sys.executable, str(REPO / "scripts" / "uv_requirement.py"), name]
    if lock is not None:
        command += ["--lock", str(lock)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def student_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the kit's README says to install: numpy (the lock's, as a student's pip would fetch it)."""
    return _venv(tmp_path_factory.mktemp("venv") / "venv", _locked("numpy"))


def _check(
    python: Path | str, kit_dir: Path, *args: str, command: list[str] | None = None
) -> tuple[dict[str, Any], str]:
    """`python check.py --json ARGS` in the kit folder, as a student's shell runs it: the report and what
    check.py said besides."""
    env = {"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": str(kit_dir), "LANG": "C.UTF-8"}
    done = subprocess.run([*(command or [str(python)]), "check.py", "--json", "--lang", "en", *args], cwd=kit_dir,
                          env=env,
                          capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)
    assert done.returncode in (0, 1), f"check.py exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout), done.stderr


def _server_report(portal: Portal, models: Path) -> dict[str, Any]:
    """Upload `models` over HTTP, wait for the Docker-graded result, return the stored report."""
    user = _student(portal)
    response = user.upload("nn", models.read_bytes())
    assert response.status_code == 200 and "/submissions/" in response.url, response.text[-2000:]
    submission_id = int(response.url.rstrip("/").rsplit("/", 1)[-1])
    deadline = time.monotonic() + CHECK_TIMEOUT_S
    while user.get(f"/submissions/{submission_id}/status.json").json()["pending"]:
        assert time.monotonic() < deadline, "the server did not grade the upload"
        time.sleep(0.5)
    engine = make_engine(portal.settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            report = session.scalar(select(GradingRun.report).where(GradingRun.submission_id == submission_id,
                                                                   GradingRun.current.is_(True)))
    finally:
        engine.dispose()
    assert report is not None
    return dict(report)


def _question(report: Mapping[str, Any], question: str) -> Mapping[str, Any]:
    return next(q for q in report["questions"] if q["question"] == question)


def _verdicts(report: Mapping[str, Any], question: str) -> list[tuple[int, str, int]]:
    q = _question(report, question)
    return [(a["seed"], a["outcome"], a["points"]) for a in q["attempts"]]


@pytest.fixture(scope="module")
def staff_server_report(portal: Portal) -> dict[str, Any]:
    return _server_report(portal, STAFF)


# ------------------------------------------------------------------------------------------------ tests


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.mnist
def test_check_py_grades_the_staff_solution_as_the_server_does(
    portal: Portal, student_python: Path, staff_server_report: dict[str, Any], tmp_path: Path
) -> None:
    kit_dir = _unzipped_kit(portal, tmp_path / "kit")
    shutil.copyfile(STAFF, kit_dir / "models.py")
    local, said = _check(student_python, kit_dir, "q1")
    import numpy

    assert f"Python {sys.version.split()[0]}, NumPy {numpy.__version__}" in said  # which stack it ran on
    ours, server = _question(local, "q1"), _question(staff_server_report, "q1")
    assert _verdicts(local, "q1") == _verdicts(staff_server_report, "q1") == [(0, "passed", 6)]
    # The host's NumPy (1.26) against the sandbox's (1.22.4): the same model, not the same last bits.
    assert abs(ours["metric_value"] - server["metric_value"]) <= 1e-9

    local, said = _check(student_python, kit_dir, "q2")
    assert "Downloading the MNIST data" in said  # with the personal link kit.json carries
    assert (kit_dir / "data" / "public" / "mnist-public.npz").is_file()
    ours, server = _question(local, "q2"), _question(staff_server_report, "q2")
    assert ours["scored_on"] == "validation" and server["scored_on"] == "test"
    assert (ours["points"], ours["outcome"]) == (server["points"], server["outcome"]) == (6, "passed")
    assert ours["metric_value"] >= 0.97


@pytest.mark.slow
@pytest.mark.docker
def test_check_py_grades_a_broken_submission_as_the_server_does(
    portal: Portal, student_python: Path, tmp_path: Path
) -> None:
    kit_dir = _unzipped_kit(portal, tmp_path / "kit")
    shutil.copyfile(BROKEN, kit_dir / "models.py")
    local, _ = _check(student_python, kit_dir, "q1")
    server = _server_report(portal, BROKEN)
    assert _verdicts(local, "q1") == _verdicts(server, "q1")
    assert _question(local, "q1")["counted_attempt"] == _question(server, "q1")["counted_attempt"]
    assert _question(local, "q1")["attempts"][0]["detail"] == _question(server, "q1")["attempts"][0]["detail"]
    assert _question(server, "q1")["points"] < 6


@pytest.mark.slow
@pytest.mark.docker
def test_on_the_sandbox_stack_check_py_gives_the_servers_loss_to_the_last_bit(
    portal: Portal, staff_server_report: dict[str, Any], tmp_path: Path
) -> None:
    """Python 3.9 and NumPy 1.22.4, as in the sandbox image: the very bits the server reports."""
    from sandbox.image import expected_tag

    kit_dir = _unzipped_kit(portal, tmp_path / "kit")
    shutil.copyfile(STAFF, kit_dir / "models.py")
    os.chmod(kit_dir, 0o755)
    docker = ["docker", "run", "--rm", "--network", "none", "--tmpfs", "/tmp:rw,exec", "-e", "TMPDIR=/tmp",
              "-v", f"{kit_dir}:/kit:ro", "-w", "/kit", expected_tag(), "python3"]
    local, said = _check("python3", kit_dir, "q1", command=docker)
    assert "Python 3.9" in said and "NumPy 1.22.4" in said and "to the last digit" in said
    assert _verdicts(local, "q1") == _verdicts(staff_server_report, "q1")
    assert _question(local, "q1")["metric_value"] == _question(staff_server_report, "q1")["metric_value"]


@pytest.mark.slow
@pytest.mark.docker
def test_check_py_runs_on_numpy_2(
    portal: Portal, staff_server_report: dict[str, Any], tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv", _locked("numpy", NUMPY2_LOCK))
    kit_dir = _unzipped_kit(portal, tmp_path / "kit")
    shutil.copyfile(STAFF, kit_dir / "models.py")
    local, said = _check(python, kit_dir, "q1")
    assert "NumPy 2." in said
    assert _verdicts(local, "q1") == _verdicts(staff_server_report, "q1")
    assert abs(_question(local, "q1")["metric_value"] - _question(staff_server_report, "q1")["metric_value"]) <= 1e-9


@pytest.mark.slow
@pytest.mark.mnist
def test_the_data_link_serves_the_public_bundle_and_ends_with_the_password(portal: Portal, tmp_path: Path) -> None:
    kit_dir = _unzipped_kit(portal, tmp_path / "kit", OTHER)
    link = json.loads((kit_dir / "kit.json").read_text())["data"]
    anonymous = Browser(portal.url)
    got = anonymous.http.get(link["url"], timeout=120)
    assert got.status_code == 200 and len(got.content) == link["bytes"]
    with np.load(io.BytesIO(got.content), allow_pickle=False) as bundle:
        assert sorted(bundle.files) == ["dev_images", "dev_labels", "test_images", "train_images", "train_labels"]
        assert bundle["test_images"].shape == (5000, 784)
    assert anonymous.get("/kit/data/forged/mnist-public.npz").status_code == 403
    changed = _student(portal, OTHER).post_form("/account/password", "/account/password", {
        "current_password": OTHER.password, "new_password": "tomas-password-2", "confirm": "tomas-password-2"})
    assert changed.status_code == 200
    assert anonymous.http.get(link["url"], timeout=60).status_code == 403


@pytest.mark.slow
@pytest.mark.docker
def test_a_spanish_students_kit_speaks_spanish(portal: Portal, student_python: Path, tmp_path: Path) -> None:
    """`python check.py` alone, as the README says: every question, in the language the student chose."""
    kit_dir = _unzipped_kit(portal, tmp_path / "kit", language="es")
    assert json.loads((kit_dir / "kit.json").read_text())["language"] == "es"
    assert "## 1. Prepara Python" in (kit_dir / "README.md").read_text()
    shutil.copyfile(STAFF, kit_dir / "models.py")
    env = {"PATH": f"{student_python.parent}:/usr/bin:/bin", "HOME": str(kit_dir), "LANG": "C.UTF-8"}
    done = subprocess.run([str(student_python), "check.py"], cwd=kit_dir, env=env, capture_output=True,
                          text=True, timeout=CHECK_TIMEOUT_S, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for spanish in ("El servidor usa Python 3.9 con NumPy 1.22.4", "Descargando los datos de MNIST (11 MB)",
                    "Corrigiendo", "semilla", "Pregunta", "Puntos", "Resultado", "Umbral", "superada",
                    "precisión de validación", "Intentos (semilla: resultado)", "<= 0,02", ">= 97\u00a0%"):
        assert spanish in out, (spanish, out)
    for english in ("The server runs", "Grading", "Question", "Threshold", "passed", "validation accuracy"):
        assert english not in out, (english, out)
