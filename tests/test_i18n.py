"""Translations: the Spanish catalog is complete and compiled, placeholders survive translation, numbers and
dates follow the locale, the language is chosen in the documented order, and pages in Spanish hold no English.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from i18n_support import REPO, english_catalog_sentences, untranslated, visible_text
from sqlalchemy import select

from gradebook import course, users
from gradebook.db import make_engine, make_sessionmaker, transaction
from grader.messages import N_, Message, message, placeholders
from nngrade.settings import Settings
from web import create_app, i18n

TRANSLATIONS = REPO / "web" / "translations"
PO = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None,
            "CheckFailed": None}


def _catalog() -> list:  # type: ignore[type-arg]
    with open(PO, "rb") as handle:
        return [m for m in read_po(handle, locale="es") if m.id]


def _extracted_ids() -> set[str]:
    """Every message id the code and templates mark, extracted afresh as pybabel does (babel.cfg)."""
    method_map = [("web/**.py", "python"), ("gradebook/**.py", "python"), ("grader/**.py", "python"),
                  ("cli/**.py", "python"), ("web/templates/**.html", "jinja2")]
    found: set[str] = set()
    for _file, _line, msgid, _comments, _context in extract_from_dir(
            str(REPO), method_map, keywords=KEYWORDS, options_map={"web/templates/**.html": {}}):
        for part in (msgid if isinstance(msgid, tuple) else (msgid,)):
            if part:
                found.add(part)
    return found


def test_every_marked_string_has_a_spanish_translation() -> None:
    catalog = {m.id if isinstance(m.id, str) else m.id[0]: m for m in _catalog()}
    plural_ids = {p for m in _catalog() if not isinstance(m.id, str) for p in m.id}
    missing = sorted(i for i in _extracted_ids() if i not in catalog and i not in plural_ids)
    assert not missing, f"not in the Spanish catalog (run pybabel extract/update, then translate): {missing}"
    for m in _catalog():
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        assert all(s.strip() for s in strings), f"no Spanish for {m.id!r}"
        assert "fuzzy" not in m.flags, f"fuzzy (unreviewed, not compiled) translation for {m.id!r}"


def test_translations_keep_every_placeholder() -> None:
    for m in _catalog():
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        want_percent = set(re.findall(r"%\(([a-z_]+)\)", ids[-1]))
        want_brace = placeholders(ids[0]) if "{" in ids[0] else set()
        for s in strings:
            assert set(re.findall(r"%\(([a-z_]+)\)", s)) <= want_percent | {"num"}, (m.id, s)
            assert set(re.findall(r"%\(([a-z_]+)\)", s)) >= want_percent - {"num"}, (m.id, s)
            if want_brace:
                assert placeholders(s) == want_brace, (m.id, s)
                Message(s, dict.fromkeys(want_brace, 1)).text  # noqa: B018  # a bad spec raises here


def test_compiled_catalog_is_current_and_checked(tmp_path: Path) -> None:
    i18n.check_catalogs()  # the repository's, compiled by scripts/setup.d/25-catalogs.sh
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes(PO.read_bytes())
    with pytest.raises(i18n.CatalogError, match=r"not compiled.*25-catalogs\.sh"):
        i18n.check_catalogs(tmp_path)
    mo = folder / "messages.mo"
    mo.write_bytes(b"")
    old = time.time() - 60
    os.utime(mo, (old, old))
    with pytest.raises(i18n.CatalogError, match="older than"):
        i18n.check_catalogs(tmp_path)


@pytest.mark.parametrize(("locale", "ratio", "digits", "shown"), [
    ("es", 0.9746, 2, "97,46 %"), ("en", 0.9746, 2, "97.46%"), ("es", 0.97, 0, "97 %"), ("en", 1.0, 1, "100.0%"),
])
def test_percentages_follow_the_locale(locale: str, ratio: float, digits: int, shown: str) -> None:
    assert i18n.fmt_percent(ratio, digits, locale=locale).replace("\xa0", " ") == shown


def test_numbers_and_points_follow_the_locale() -> None:
    assert i18n.fmt_points(9.6, locale="es") == "9,6"
    assert i18n.fmt_points(12.0, locale="es") == "12"
    assert i18n.fmt_number(1234.5, 1, locale="en") == "1,234.5"
    assert i18n.fmt_number(1234.5, 1, locale="es") in ("1234,5", "1.234,5")
    assert i18n.fmt_metric("loss", 0.0041, locale="es") == "0,004100"
    assert i18n.fmt_metric("accuracy", 0.9812, locale="es").replace("\xa0", " ") == "98,12 %"


def test_messages_render_with_locale_numbers_and_fall_back_to_english() -> None:
    template = N_("Counted late: {penalty:.0%} off ({kept:.0%} of the points kept).")
    assert i18n.translate("es", template, penalty=0.1, kept=0.9).replace("\xa0", " ") == \
        "Cuenta con retraso: 10 % menos (se conserva el 90 % de los puntos)."
    assert i18n.translate("en", template, penalty=0.1, kept=0.9) == \
        "Counted late: 10% off (90% of the points kept)."
    assert i18n.translate("fr", template, penalty=0.1, kept=0.9).startswith("Counted late")
    # A template the catalog does not know is shown in English, numbers still in the reader's notation.
    assert i18n.translate("es", "Loss {loss:.4f} is new.", loss=0.25) == "Loss 0,2500 is new."
    stored = message(N_("Use at least {count} characters."), count=10)
    assert Message.from_dict(stored.to_dict()) == stored
    assert stored.text == "Use at least 10 characters."
    with pytest.raises(ValueError, match="lacks values"):
        Message.from_dict({"template": "Line {line}.", "params": {}})


def test_catalog_fragments_are_sentences_not_single_words() -> None:
    fragments = english_catalog_sentences()
    assert "Waiting in the queue" in fragments and all(len(f.split()) >= 3 for f in fragments)


def test_visible_text_leaves_out_what_is_not_ours() -> None:
    html = ('<p>Hola <span translate="no">the student</span><code>x = the</code></p><img alt="una imagen">'
            '<pre>Traceback (most recent call last)</pre><input placeholder="the name">')
    assert visible_text(html) == "Hola una imagen the name"
    assert untranslated(html) == ["word: 'the'"]  # from the placeholder: attributes are read too


# Over HTTP through the app: the language the pages choose, and Spanish pages with no English left. -----

PASSWORDS = {"ana": "ana-password-1", "teo": "teo-password-1", "ines": "ines-password-1"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from gradebook import assignments
    from gradebook.db import migrate

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        users.create_user(session, "ana", "Ana Alumna", PASSWORDS["ana"], "student", must_change_password=False)
        users.create_user(session, "teo", "Teo Tutor", PASSWORDS["teo"], "ta", must_change_password=False)
        users.create_user(session, "ines", "Inés Profesora", PASSWORDS["ines"], "instructor",
                          must_change_password=False)
        assignments.create_assignment(session, "nn", "Redes neuronales", datetime(2030, 1, 15, 23, 59, tzinfo=UTC))
    engine.dispose()
    settings = Settings(var_dir=tmp_path, database_url=url, storage_dir=tmp_path / "subs", data_dir=tmp_path,
                        secret_key="i18n-test-" + "x" * 40, session_cookie_secure=False)

    class Queue:
        def publish(self, run_id: int, purpose: str) -> None:
            pass

    app = create_app(settings, Queue(), testing=True, limiter_storage_uri="memory://")
    yield app
    app.extensions["nngrade.db"].dispose()


def _login(app: Flask, who: str, language: str = "en"):  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").text)
    assert token
    response = client.post("/login", data={"username": who, "password": PASSWORDS[who], "csrf_token": token.group(1)})
    assert response.status_code == 302, response.text
    return client


def _switch(client, locale: str):  # type: ignore[no-untyped-def]
    page = client.get("/login" if not client.get_cookie("nngrade_session") else "/kit/").text
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert token
    return client.post("/language?next=/kit/", data={"csrf_token": token.group(1), "locale": locale})


def test_language_order_choice_then_browser_then_course_default(app: Flask) -> None:
    anonymous = app.test_client()
    assert 'lang="en"' in anonymous.get("/login").text  # nothing said: the course default, English
    with app.app_context():
        from web.db import database

        with transaction(database().write) as session:
            course.set_default_locale(session, "es")
    assert "Inicia sesión en nngrade" in anonymous.get("/login").text
    assert "Sign in to nngrade" in anonymous.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    assert "Inicia sesión" in anonymous.get("/login", headers={"Accept-Language": "fr, es;q=0.5"}).text

    ana = _login(app, "ana", "en-US")
    assert "My assignments" in ana.get("/submissions/").text
    assert _switch(ana, "es").status_code == 302
    assert "Mis tareas" in ana.get("/submissions/").text
    # Saved on the account: a new browser that asks for English still gets Spanish.
    other = _login(app, "ana", "en-US")
    assert "Mis tareas" in other.get("/submissions/").text
    assert _switch(other, "xx").status_code == 400
    assert _switch(other, "en").status_code == 302
    assert "My assignments" in ana.get("/submissions/").text


def test_instructor_sets_the_course_default(app: Flask) -> None:
    ines = _login(app, "ines", "fr")
    page = ines.get("/instructor/course")
    assert page.status_code == 200 and 'lang="en"' in page.text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token
    response = ines.post("/instructor/course", data={"csrf_token": token.group(1), "default_locale": "es"})
    assert response.status_code == 302
    assert 'lang="es"' in ines.get("/instructor/course").text
    refused = ines.post("/instructor/course", data={"csrf_token": token.group(1), "default_locale": "de"})
    assert refused.status_code == 400
    teo = _login(app, "teo", "en")
    assert teo.get("/instructor/course").status_code == 403


@pytest.mark.parametrize("who", ["anonymous", "ana", "teo", "ines"])
def test_spanish_pages_hold_no_english(app: Flask, who: str) -> None:
    client = app.test_client() if who == "anonymous" else _login(app, who, "es-ES,es;q=0.9")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es-ES,es;q=0.9"
    if who == "anonymous":
        paths = ["/login", "/no-such-page"]
    elif who == "ana":
        paths = ["/submissions/", "/assignments/nn/", "/kit/", "/account/password", "/dashboard/"]
    else:
        paths = ["/dashboard/", "/dashboard/audit", "/dashboard/?status=flagged", "/dashboard/?q=zzz", "/kit/",
                 "/account/password", "/instructor/course"]
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 403, 404), (path, response.status_code)
        assert 'lang="es"' in response.text
        assert untranslated(response.text) == [], path
    if who == "ana":
        # An upload refused for its name and one refused for its syntax, both explained in Spanish.
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/assignments/nn/").text)
        assert token
        import io

        for name, data in (("notes.txt", b"x = 1\n"), ("models.py", b"def f(:\n")):
            response = client.post("/assignments/nn/submissions", data={
                "csrf_token": token.group(1), "models_py": (io.BytesIO(data), name)})
            assert response.status_code == 422
            assert untranslated(response.text) == [], name
        assert "Error de sintaxis en la línea 1" in response.text


def _store_report(app: Flask, with_messages: bool) -> int:
    """A graded submission of ana's whose q1 missed the goal after diverging once: returns its id."""
    from gradebook import runs, submissions
    from gradebook.models import Assignment, User
    from grader.hints import hint_messages_for
    from grader.questions import get_question
    from grader.report import Attempt, Environment, QuestionResult, Report
    from grader.scoring import _metric_outcome

    q1 = get_question("q1")
    _, why = _metric_outcome(q1, 0.0713, "training")
    attempt = Attempt(seed=0, outcome="below_threshold", points=2, sanity_passed=True, metric_value=0.0713,
                      detail=why.text, wall_s=3.0, cpu_s=2.9, peak_memory_mb=60.0, epochs=0,
                      warnings=("line 3 imports `click`, which is not available here; unused, so ignored",))
    hints = hint_messages_for("q1", attempt)
    if with_messages:
        from grader.scoring import _warning_messages

        attempt = Attempt(**{**attempt.__dict__, "detail_message": why, "hints": tuple(h.text for h in hints),
                             "hint_messages": hints, "warning_messages": _warning_messages(attempt.warnings)})
    else:
        attempt = Attempt(**{**attempt.__dict__, "hints": tuple(h.text for h in hints)})
    question = QuestionResult("q1", q1.title, 2, 6, "below_threshold", "loss", 0.0713, 0.02, "<=", (attempt,), 0,
                              attempt.hints, "training")
    with app.app_context():
        from web.db import database

        with transaction(database().write) as session:
            ana = session.scalar(select(User).where(User.username == "ana"))
            nn = session.scalar(select(Assignment).where(Assignment.slug == "nn"))
            sub, run = submissions.create_submission(session, ana, nn, b"x = 1\n",
                                                     submissions.UploadLimits(min_interval_s=0))
            sub_id, run_id = sub.id, run.id
        with transaction(database().write) as session:
            assert runs.claim_run(session, run_id, "tok", lease_s=60).state == "claimed"
            report = Report("0" * 64, "models.py", Environment("local", "3.11", "1.26.4", "1"), {}, (question,), 3.0)
            # Through JSON, as the gradebook stores it: what the page reads back is what a worker wrote.
            assert runs.finish_run(session, run_id, "tok", Report.from_dict(report.to_dict()))
    return sub_id


def test_feedback_from_the_grader_reads_in_the_readers_language(app: Flask) -> None:
    submission = _store_report(app, with_messages=True)
    page = _login(app, "ana", "es").get(f"/submissions/{submission}").text
    # The goal is said once, beside the metric, with its symbol; the grader's sentence gives the verdict.
    assert "Pérdida final 0,071300: no alcanza el objetivo." in page
    assert "objetivo ≤ 0,02" in page and "&lt;=" not in page and "umbral" not in page
    assert "train() no llegó a recorrer el conjunto de datos" in page  # a hint, in the course's words
    assert "la línea 3 importa `click`, que aquí no está disponible" in page
    assert untranslated(page) == []
    english = _login(app, "ana", "en").get(f"/submissions/{submission}").text
    assert "Final loss 0.071300: goal missed." in english
    assert "goal ≤ 0.02" in english and "&lt;=" not in english and "threshold" not in english


def test_every_sentence_the_page_shortens_is_one_the_grader_writes() -> None:
    from grader.scoring import _METRIC_DETAILS
    from web.services.pages import GOAL_RESTATED

    written = {template for templates in _METRIC_DETAILS.values() for template in templates[1:]}
    assert set(GOAL_RESTATED) == written


def test_reports_stored_before_the_messages_are_shown_as_stored(app: Flask) -> None:
    submission = _store_report(app, with_messages=False)
    page = _login(app, "ana", "es").get(f"/submissions/{submission}").text
    assert "Final loss 0.071300 misses the threshold (&lt;= 0.02)." in page  # the English record, unchanged
    assert "Pérdida" in page  # the page around it is Spanish all the same


def test_the_cli_table_speaks_the_chosen_language() -> None:
    from functools import partial

    from cli.grade import _say
    from grader.hints import hint_messages_for
    from grader.questions import get_question
    from grader.report import Attempt, Environment, QuestionResult, Report
    from grader.scoring import _metric_outcome
    from grader.text_report import render_table

    q1 = get_question("q1")
    _, why = _metric_outcome(q1, 0.0713, "training")
    attempt = Attempt(seed=0, outcome="below_threshold", points=2, sanity_passed=True, metric_value=0.0713,
                      detail=why.text, wall_s=3.0, cpu_s=2.9, peak_memory_mb=60.0, epochs=0, detail_message=why)
    hints = hint_messages_for("q1", attempt)
    attempt = Attempt(**{**attempt.__dict__, "hints": tuple(h.text for h in hints), "hint_messages": hints})
    question = QuestionResult("q1", q1.title, 2, 6, "below_threshold", "loss", 0.0713, 0.02, "<=", (attempt,), 0,
                              attempt.hints, "training")
    report = Report("0" * 64, "models.py", Environment("local", "3.11", "1.26.4", "1"), {}, (question,), 3.0)
    spanish = render_table(report, say=partial(_say, "es"))
    assert "q1: Pérdida final 0,071300: no alcanza el umbral (<= 0,02)." in spanish
    assert "hint: train() no llegó a recorrer el conjunto de datos" in spanish
    assert "q1: Final loss 0.071300 misses the threshold (<= 0.02)." in render_table(report)


@pytest.mark.slow
@pytest.mark.mnist
def test_a_check_failed_in_the_students_process_arrives_as_a_template(data_dir: Path) -> None:
    """Through the real harness (local runner): the sanity check's template crosses from the student's
    process with its values, and reads in Spanish; the English record is what it always was."""
    from grader.config import AssignmentConfig
    from grader.grading import grade_submission
    from grader.local_runner import LocalRunner

    broken = REPO / "reference_solutions" / "broken" / "wrong_output_shape.py"
    report = grade_submission(broken, AssignmentConfig(questions=("q1",)), LocalRunner(data_dir), data_dir)
    attempt = report.questions[0].counted
    assert attempt.outcome == "failed_check"
    assert attempt.detail_message is not None and attempt.detail_message.text == attempt.detail
    assert attempt.detail_message.template == "{method} should return an object with shape {expected}, got {actual}"
    spanish = i18n.translate("es", attempt.detail_message.template, **attempt.detail_message.params)
    assert spanish.startswith("RegressionModel.run() debería devolver un objeto de forma")
    assert attempt.hint_messages and "run(x) debe devolver un nodo de forma batch_size×1" in i18n.translate(
        "es", attempt.hint_messages[0].template, **attempt.hint_messages[0].params)


@pytest.mark.parametrize(("language", "said"), [
    ("en", "The zip unpacks into a folder named <code translate=\"no\">{folder}/</code>"),
    ("es", "El zip se descomprime en una carpeta llamada <code translate=\"no\">{folder}/</code>"),
])
def test_the_kit_page_names_the_folder_the_zip_unpacks_into(app: Flask, language: str, said: str) -> None:
    from web.services.kit import KIT_ROOT

    page = _login(app, "ana", language).get("/kit/").text
    folder = re.search(r'<p data-testid="kit-folder">(.*?)</p>', page, re.S)
    assert folder, page
    assert said.format(folder=KIT_ROOT) in folder.group(1)


# The course's own words (the assignment says "autocalificador" and "archivos para editar y enviar"): the
# portal and the kit's README say "calificador" and "enviar", never a synonym a student would stop at.
OFF_COURSE_WORDS = re.compile(
    r"\b(corrector|correctora|corrige tu|sub(?:ir|e|es|irlo|elo|ido|ida)|entregar|entregues|entregada|"
    r"entregado|entrega (?:tu|un|el|solo|models)|que entregas)\b", re.IGNORECASE)


def test_spanish_says_the_courses_words_for_the_grader_and_for_sending_work() -> None:
    readme = (REPO / "web" / "templates" / "kit" / "README.es.md").read_text()
    texts = [("README.es.md", readme)]
    for m in _catalog():
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        texts.extend((str(m.id), s) for s in strings if s)
    found = [(where, hit.group(0)) for where, text in texts for hit in OFF_COURSE_WORDS.finditer(text)]
    assert found == []
