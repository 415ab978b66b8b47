"""Exercises, self-check and grader: consistent material, fair scoring, and nothing for hostile code."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
import json
import math
import os
import stat
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from day6.errors import ConfigError
from day6.grading import _confine, check, cli_check, cli_grade
from day6.grading._spec import EXERCISES, CheckSet, encode
from day6.grading.checks import (
    ExerciseResult,
    compare,
    expectations_from,
    load_suites,
    resolve_exercise,
    visible_expectations,
)
from day6.grading.grader import Grader, Submission, read_submission
from day6.grading.report import write_gradebook
from day6.grading.sandbox import SandboxPolicy, _authenticate

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES_DIR = ROOT / "exercises"
HIDDEN = ROOT / "grading" / "hidden"

ISOLATION_AVAILABLE = _confine.landlock_abi() > 0 and _confine.seccomp_supported()
needs_isolation = pytest.mark.skipif(
    not ISOLATION_AVAILABLE, reason="strict grading needs Linux x86-64 with Landlock and seccomp"
)


def _load_solution(exercise: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_sol_{exercise}", SOLUTIONS / f"{EXERCISES[exercise]}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- the material ---------------------------------------------------------------------------------


def test_every_exercise_has_a_stub_and_a_solution_with_the_same_public_names() -> None:
    """Each exercise exists in exercises/ and solutions/, with identical public interfaces."""
    for module in EXERCISES.values():
        stub = (EXERCISES_DIR / f"{module}.py").read_text()
        solution = (SOLUTIONS / f"{module}.py").read_text()
        assert "raise NotImplementedError" in stub
        assert "# TODO" in stub
        assert "NotImplementedError" not in solution
        names = {
            line.split("(")[0].split(":")[0]
            for line in stub.splitlines()
            if line.startswith(("def ", "class "))
        }
        for name in names:
            assert name in solution, f"{module}: {name} missing from the solution"


def test_stored_visible_expectations_match_the_solutions() -> None:
    """The shipped expectations equal what the reference solutions produce (regenerate if this fails)."""
    stored = visible_expectations()
    for exercise in EXERCISES:
        checks = importlib.import_module(f"day6.grading.visible.{exercise}").CHECKS.checks
        assert expectations_from(checks, _load_solution(exercise)) == {c.id: stored[c.id] for c in checks}
    assert set(stored) == {
        c.id for e in EXERCISES for c in importlib.import_module(f"day6.grading.visible.{e}").CHECKS.checks
    }


def test_each_exercise_is_worth_10_visible_and_10_hidden_points() -> None:
    """Points are balanced: 10 visible + 10 hidden per exercise, every check id unique."""
    suites = load_suites(solutions_dir=SOLUTIONS, hidden_dir=HIDDEN)
    ids = [c.id for s in suites.values() for c in s.checks]
    assert len(ids) == len(set(ids))
    for suite in suites.values():
        assert sum(c.points for c in suite.checks if not c.hidden) == 10
        assert sum(c.points for c in suite.checks if c.hidden) == 10


def test_grading_import_stays_light() -> None:
    """Importing day6.grading pulls in neither rich, matplotlib, ipywidgets nor simpy."""
    import subprocess

    code = (
        "import sys, day6.grading; "
        "print(','.join(m for m in ('rich', 'matplotlib', 'ipywidgets', 'simpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_hidden_checks_are_not_in_the_package() -> None:
    """Hidden checks live outside src/, so installing day6 never ships them to students."""
    package = Path(importlib.import_module("day6").__file__ or "").parent
    assert not list(package.rglob("*hidden*"))
    assert sorted(p.name for p in HIDDEN.glob("ex*.py")) == [f"{e}.py" for e in EXERCISES]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ex01", "ex01"), ("1", "ex01"), ("ex03_circuit_breaker.py", "ex03"), ("EX05", "ex05")],
)
def test_resolve_exercise_accepts_common_spellings(text: str, expected: str) -> None:
    """Students may name an exercise by id, number or file name."""
    assert resolve_exercise(text) == expected


def test_resolve_exercise_rejects_unknown_names() -> None:
    """An unknown exercise is a clear error, not a silent empty run."""
    with pytest.raises(ValueError, match="ex01"):
        resolve_exercise("ex09")


def test_check_set_rejects_duplicates_and_bad_points() -> None:
    """Check ids are unique and points positive, so a gradebook total cannot silently drift."""
    checks = CheckSet("ex01")

    def scenario(ex: Any) -> None:
        return None

    def other(ex: Any) -> None:
        return None

    checks.check(points=1, title="t")(scenario)
    with pytest.raises(ValueError, match="duplicate"):
        checks.check(points=1, title="t")(scenario)
    with pytest.raises(ValueError, match="positive"):
        checks.check(points=0, title="t")(other)
    with pytest.raises(ValueError, match="unknown exercise"):
        CheckSet("ex99")


# --- observations and comparison --------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=30,
)


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_encode_is_idempotent_json_and_self_equal(value: Any) -> None:
    """encode() yields JSON data that survives a round trip, is a fixed point, and equals itself."""
    encoded = encode(value)
    assert json.loads(json.dumps(encoded, allow_nan=False)) == encoded
    assert encode(encoded) == encoded
    assert compare(encoded, encoded, 1e-9) is None


def test_encode_ignores_what_objects_claim_about_themselves() -> None:
    """An always-equal object is only its type name; numeric/str subclasses reduce to their real value."""

    class Liar:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    class SneakyFloat(float):
        def __eq__(self, other: object) -> bool:
            return True

        def __float__(self) -> float:
            return 0.1

        __hash__ = float.__hash__

    class SneakyStr(str):
        def __str__(self) -> str:
            return "rate_limit"

        __hash__ = str.__hash__

    assert encode(Liar()) == {
        "$type": "test_encode_ignores_what_objects_claim_about_themselves.<locals>.Liar"
    }
    assert encode(SneakyFloat(7.5)) == 7.5
    assert type(encode(SneakyFloat(7.5))) is float
    assert encode(SneakyStr("server_error")) == "server_error"
    assert encode((1, float("nan"), float("-inf"))) == [1, {"$float": "nan"}, {"$float": "-inf"}]
    assert encode({1: "x"}) == {"$type": "<dict with non-str keys>"}


def test_encode_bounds_depth_and_size() -> None:
    """A hostile return value (deeply nested or huge) is cut down, never exhausting the grader."""
    deep: list[Any] = []
    node = deep
    for _ in range(100):
        node.append([])
        node = node[0]
    assert "<too large>" in json.dumps(encode(deep))
    assert "<too large>" in json.dumps(encode(list(range(100_000))))


@pytest.mark.parametrize(
    ("expected", "observed", "same"),
    [
        (0.1 + 0.2, 0.3, True),
        (1.0, 1, True),
        (True, 1, False),
        (1, True, False),
        (0.3, 0.31, False),
        ([1, 2], [1, 2, 3], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("x", "x", True),
        (None, "None", False),
        ({"$type": "Liar"}, {"$type": "Liar"}, True),
    ],
)
def test_compare_rules(expected: Any, observed: Any, same: bool) -> None:
    """Numbers compare with tolerance (int may stand for float), bools are not ints, shapes must match."""
    assert (compare(expected, observed, 1e-9) is None) is same


@given(st.floats(min_value=-1e6, max_value=1e6), st.floats(min_value=1e-6, max_value=1.0))
def test_compare_never_accepts_a_clearly_different_number(x: float, bump: float) -> None:
    """Any difference beyond the tolerance is detected."""
    assert compare(x, x + max(bump, abs(x) * 1e-6), 1e-9) is not None


# --- authentication of the result channel ---------------------------------------------------------


def _line(nonce: str, kind: str, **fields: Any) -> bytes:
    return (json.dumps({"nonce": nonce, "type": kind, **fields}) + "\n").encode()


def test_authenticate_accepts_the_runner_sequence() -> None:
    """hello, import, one record per check, done: all accepted, nothing flagged."""
    n = "abc"
    data = (
        _line(n, "hello", ok=True)
        + _line(n, "import", ok=True)
        + _line(n, "check", id="a")
        + _line(n, "done", count=1)
    )
    records, forged = _authenticate(data, n, {"a"})
    assert [r["type"] for r in records] == ["hello", "import", "check", "done"]
    assert forged == ()


@pytest.mark.parametrize(
    "extra",
    [
        b'{"type": "check", "id": "a", "status": "returned", "value": 1}\n',  # no nonce
        b"not json\n",
        _line("wrong", "check", id="a"),
    ],
)
def test_authenticate_flags_foreign_lines(extra: bytes) -> None:
    """A line without this run's nonce, or not JSON at all, marks the run as forged."""
    n = "abc"
    data = _line(n, "hello", ok=True) + _line(n, "import", ok=True) + extra + _line(n, "done", count=0)
    _records, forged = _authenticate(data, n, {"a"})
    assert forged


def test_authenticate_flags_repeats_order_and_counts() -> None:
    """Repeated checks, unknown ids, records before hello or after done, wrong counts: all flagged."""
    n = "abc"
    head = _line(n, "hello", ok=True) + _line(n, "import", ok=True)
    cases = [
        head + _line(n, "check", id="a") + _line(n, "check", id="a") + _line(n, "done", count=1),
        head + _line(n, "check", id="zzz") + _line(n, "done", count=0),
        _line(n, "check", id="a") + head + _line(n, "done", count=0),
        head + _line(n, "done", count=0) + _line(n, "check", id="a"),
        head + _line(n, "check", id="a") + _line(n, "done", count=5),
    ]
    for data in cases:
        assert _authenticate(data, n, {"a"})[1], data


def test_authenticate_drops_a_cut_off_last_line_without_suspicion() -> None:
    """A kill can cut the last record in half; that is not forgery (and it earns nothing)."""
    n = "abc"
    data = _line(n, "hello", ok=True) + _line(n, "import", ok=True) + b'{"nonce": "abc", "ty'
    records, forged = _authenticate(data, n, set())
    assert [r["type"] for r in records] == ["hello", "import"]
    assert forged == ()


# --- reading submissions --------------------------------------------------------------------------


def test_read_folder_prefers_canonical_names_and_reports_ambiguity(tmp_path: Path) -> None:
    """The canonical file wins; two non-canonical candidates are reported, not guessed between."""
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "ex01_retry.py").write_text("A = 1\n")
    (tmp_path / "ex01_retry_old.py").write_text("A = 2\n")
    (tmp_path / "ex02_mine.py").write_text("B = 1\n")
    (tmp_path / "ex02_other.py").write_text("B = 2\n")
    (tmp_path / "ex03_breaker.py").write_text("C = 1\n")
    sub = read_submission(tmp_path, student="s")
    assert sub.files["ex01"] == b"A = 1\n"
    assert "ex02" not in sub.files
    assert any("several candidate files" in p for p in sub.problems)
    assert sub.files["ex03"] == b"C = 1\n"


def test_read_folder_never_follows_symlinks_or_reads_huge_files(tmp_path: Path) -> None:
    """A link to a secret is skipped (a root grader must not copy it into a sandbox); so is a huge file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    student = tmp_path / "student"
    student.mkdir()
    (student / "ex01_retry.py").symlink_to(secret)
    (student / "ex02_classify.py").write_bytes(b"#" * (300 << 10))
    sub = read_submission(student)
    assert sub.files == {}
    assert any("not a regular file" in p for p in sub.problems)
    assert any("larger than" in p for p in sub.problems)


def test_read_zip_ignores_traversal_links_and_lies(tmp_path: Path) -> None:
    """Zip members are read by base name into memory: no path traversal, no links, bounded sizes."""
    archive = tmp_path / "mallory.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil/ex01_retry.py", "X = 1\n")
        link = zipfile.ZipInfo("ex02_classify.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/shadow")
        zf.writestr("__MACOSX/ex03_circuit_breaker.py", "junk")
        zf.writestr("folder/ex04_rate_limit.py", "#" * (300 << 10))
    sub = read_submission(archive)
    assert sub.student == "mallory"
    assert sub.files == {"ex01": b"X = 1\n"}
    assert any("symbolic link" in p for p in sub.problems)
    assert any("larger than" in p for p in sub.problems)
    assert not (tmp_path.parent / "evil").exists()


def test_read_zip_reports_a_broken_archive(tmp_path: Path) -> None:
    """A corrupt archive is a problem noted for that student, not a crash of the batch."""
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")
    sub = read_submission(archive)
    assert sub.files == {}
    assert any("unreadable archive" in p for p in sub.problems)


# --- configuration and reports -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings_", "name"),
    [
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"check_timeout": 0}, "check_timeout"),
        ({"memory_bytes": 1 << 20}, "memory_bytes"),
        ({"output_bytes": 0}, "output_bytes"),
        ({"isolation": "paranoid"}, "isolation"),
    ],
)
def test_policy_rejects_invalid_settings(settings_: dict[str, Any], name: str) -> None:
    """Invalid sandbox settings fail at construction with ConfigError naming the setting."""
    with pytest.raises(ConfigError) as info:
        SandboxPolicy(**settings_)
    assert info.value.setting == name


def test_grader_rejects_invalid_worker_counts() -> None:
    """workers must be a small positive integer."""
    for workers in (0, 65, True):
        with pytest.raises(ConfigError):
            Grader(workers=workers)


def test_gradebook_guards_against_csv_injection(tmp_path: Path) -> None:
    """Cells that a spreadsheet would run as formulas are written as text."""
    results = [
        ExerciseResult('=HYPERLINK("http://x")', "ex01", 0.0, 20.0, "failed", "-1 is wrong"),
        ExerciseResult("bob", "ex01", 20.0, 20.0, "passed", "all checks passed"),
    ]
    paths = write_gradebook(results, tmp_path)
    rows = list(csv.reader(paths["gradebook"].open(encoding="utf-8")))
    assert rows[0] == ["student", "exercise", "points", "max", "status", "message"]
    assert rows[1][0].startswith("'=")
    assert rows[1][5].startswith("'-")
    summary = paths["summary"].read_text()
    assert "| bob | 20 | 20/20 | 100 |" in summary


# --- grading through the real sandbox ----------------------------------------------------------------


def _fast_policy(**overrides: Any) -> SandboxPolicy:
    base: dict[str, Any] = {
        "timeout": 3.0,
        "check_timeout": 1.0,
        "memory_bytes": 256 << 20,
        "output_bytes": 64 << 10,
    }
    base.update(overrides)
    return SandboxPolicy(**base)


@pytest.fixture(scope="module")
def full_grader() -> Iterator[Grader]:
    """Visible + hidden checks, strict isolation, short limits; prepared (probed) once."""
    if not ISOLATION_AVAILABLE:
        pytest.skip("strict grading needs Linux x86-64 with Landlock and seccomp")
    policy = SandboxPolicy(timeout=20.0, check_timeout=5.0)  # generous: nothing here hangs
    grader = Grader(policy=policy, solutions_dir=SOLUTIONS, hidden_dir=HIDDEN, workers=2)
    grader.prepare()
    yield grader
    grader.sandbox.close()


@needs_isolation
def test_solutions_score_full_marks_and_stubs_score_zero(full_grader: Grader) -> None:
    """CI proves the material: solutions/ earns 100 % through the real grader; the untouched stubs earn 0."""
    results = full_grader.grade([read_submission(SOLUTIONS), read_submission(EXERCISES_DIR)])
    solutions = [r for r in results if r.student == "solutions"]
    stubs = [r for r in results if r.student == "exercises"]
    assert [(r.exercise, r.status) for r in solutions] == [(e, "passed") for e in EXERCISES]
    assert sum(r.points for r in solutions) == 100
    assert all(c.passed for r in solutions for c in r.checks)
    assert [(r.exercise, r.status) for r in stubs] == [(e, "not_implemented") for e in EXERCISES]
    assert sum(r.points for r in stubs) == 0
    assert "ex01_retry" not in sys.modules  # the grader never imports submitted code itself


@needs_isolation
def test_probe_reports_real_isolation(full_grader: Grader) -> None:
    """The probe job could neither read the solutions or hidden checks nor create a process."""
    iso = full_grader.prepare()
    assert iso.readable_secrets == ()
    assert iso.can_fork is False
    assert iso.seccomp is True
    assert iso.landlock_abi
    if os.geteuid() == 0:
        assert iso.uid != 0  # root graders run jobs as an unprivileged user


@needs_isolation
def test_a_partly_wrong_submission_gets_partial_credit_with_feedback(full_grader: Grader) -> None:
    """A bug costs exactly the checks it breaks, and the message says what was expected and what happened."""
    source = (
        (SOLUTIONS / "ex02_classify.py").read_text().replace("if status in (503, 529):", "if status == 503:")
    )
    results = full_grader.grade([Submission("carol", {"ex02": source.encode()})])
    [result] = [r for r in results if r.exercise == "ex02"]
    assert result.status == "partial"
    assert 19 < result.points < 20
    [wrong] = [c for c in result.checks if not c.passed]
    assert wrong.check_id == "ex02.hidden.full_table"
    assert "[529, null]" in wrong.message
    assert 'expected ["overloaded", true], got ["server_error", true]' in wrong.message


@needs_isolation
def test_missing_function_scores_only_what_is_present(full_grader: Grader) -> None:
    """A renamed function fails the checks that need it (status missing); the rest still count."""
    source = (SOLUTIONS / "ex01_retry.py").read_text().replace("def retry_call(", "def retry_cal(")
    [result] = [
        r for r in full_grader.grade([Submission("m", {"ex01": source.encode()})]) if r.exercise == "ex01"
    ]
    assert result.status == "missing"
    missing = [c for c in result.checks if c.status == "missing"]
    assert missing
    assert all("has no `retry_call`" in c.message for c in missing)
    assert 0 < result.points < 20


@needs_isolation
def test_warnings_and_prints_never_cost_points(full_grader: Grader) -> None:
    """Warnings and (bounded) prints are fine: a correct solution that warns everywhere still scores 20."""
    source = (SOLUTIONS / "ex04_rate_limit.py").read_text()
    source = source.replace(
        "from typing import Protocol",
        "from typing import Protocol\nimport warnings\nwarnings.warn('import-time', DeprecationWarning)\n"
        "print('hello from the student')",
    )
    source = source.replace(
        '        """Tokens in the bucket right now', '        warnings.warn("x")\n        """Tokens'
    )
    [result] = [
        r for r in full_grader.grade([Submission("w", {"ex04": source.encode()})]) if r.exercise == "ex04"
    ]
    assert (result.status, result.points) == ("passed", 20)
    assert "hello from the student" in result.stdout


def test_self_check_prints_feedback_and_returns_the_report() -> None:
    """day6.grading.check() runs visible checks only and prints a table per exercise."""
    console = Console(file=io.StringIO(), width=200)
    report = check("ex01", "ex05", exercises_dir=SOLUTIONS, console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert (report.points, report.max_points) == (20, 20)
    assert "ex01_retry.py: 10/10 points (passed)" in text
    assert "hidden" not in " ".join(c.check_id for r in report.results for c in r.checks)
    assert repr(report) == "SelfCheckReport(ex01: 10/10, ex05: 10/10)"


def test_cli_check_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """0 after feedback; 1 with --strict when checks fail or with no exercises folder; 2 on bad arguments."""
    assert cli_check(["ex03", "--exercises", str(SOLUTIONS)]) == 0
    assert "10/10" in capsys.readouterr().out
    assert cli_check(["ex03", "--exercises", str(EXERCISES_DIR), "--strict"]) == 1
    assert "NotImplementedError" in capsys.readouterr().out
    assert cli_check(["--exercises", "/nonexistent/folder"]) == 1
    assert cli_check(["ex42"]) == 2
    assert cli_check(["--timeout", "nan"]) == 2


@needs_isolation
def test_cli_grade_writes_the_gradebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """day6 grade: one sub-folder or zip per student in, gradebook.csv/checks.csv/summary.md out, exit 0."""
    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / "ex01_retry.py").write_text((SOLUTIONS / "ex01_retry.py").read_text())
    with zipfile.ZipFile(subs / "ben.zip", "w") as zf:
        zf.writestr("exercises/ex01_retry.py", (EXERCISES_DIR / "ex01_retry.py").read_text())
    out = tmp_path / "out"
    argv = [str(subs), "--out", str(out), "--solutions", str(SOLUTIONS), "--hidden", str(HIDDEN)]
    assert cli_grade([*argv, "--timeout", "5", "--no-progress"]) == 0
    rows = list(csv.DictReader((out / "gradebook.csv").open(encoding="utf-8")))
    by = {(r["student"], r["exercise"]): r for r in rows}
    assert by["ann", "ex01"]["points"] == "20"
    assert by["ben", "ex01"]["status"] == "not_implemented"
    assert by["ann", "ex02"]["status"] == "missing"
    assert len(rows) == 10
    assert "ann" in (out / "summary.md").read_text()
    assert "wrote" in capsys.readouterr().out


def test_cli_grade_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hidden checks without solutions are a usage error (2); a missing folder cannot be graded (1)."""
    monkeypatch.chdir(tmp_path)  # no ./solutions or ./grading/hidden to fall back on
    assert cli_grade([str(tmp_path), "--hidden", str(HIDDEN)]) == 2
    assert cli_grade([str(tmp_path / "nope"), "--no-progress"]) == 1
    assert cli_grade(["--workers"]) == 2


# --- hostile submissions ---------------------------------------------------------------------------

_STUB = (EXERCISES_DIR / "ex01_retry.py").read_text()
_SOLUTION = (SOLUTIONS / "ex01_retry.py").read_text()


def _with(body: str, base: str = _STUB) -> bytes:
    """A submission: the given code appended to (or run at import of) a base module."""
    return (base + "\n" + textwrap.dedent(body)).encode()


def _replace_backoff(body: str) -> bytes:
    """The stub whose backoff_delay and retry_call run ``body`` instead of raising NotImplementedError."""
    code = textwrap.indent(textwrap.dedent(body), "    ")
    source = _STUB.replace('    raise NotImplementedError("backoff_delay: complete TODO 1-3")', code)
    source = source.replace('    raise NotImplementedError("retry_call: complete TODO 4-6")', code)
    return source.encode()


_SECRET = "sk-day6-test-secret-value"
_FORGED_LINE = json.dumps(
    {
        "nonce": "0" * 32,
        "type": "check",
        "id": "ex01.doubling",
        "status": "returned",
        "value": [0.1, 0.2, 0.4, 0.8, 1.6],
    }
)

HOSTILE: dict[str, bytes] = {
    "loop_at_import": _with("while True:\n    pass\n"),
    "loop_in_function": _replace_backoff("while True:\n    pass\n"),
    "loop_swallowing_everything": _replace_backoff(
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass\n"
    ),
    "sleep_forever": _replace_backoff("import time\ntime.sleep(10**6)\n"),
    "memory_hog_at_import": _with("hog = []\nwhile True:\n    hog.append(bytearray(1 << 20))\n"),
    "memory_hog_in_function": _replace_backoff("hog = bytearray(8 << 30)\n"),
    "fork_bomb": _with("import os\nwhile True:\n    os.fork()\n"),
    "fork_bomb_ignoring_errors": _with(
        "import os\nfor _ in range(10**9):\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    ),
    "huge_output": _with("while True:\n    print('x' * 10000)\n"),
    "sys_exit_at_import": _with("import sys\nsys.exit(0)\n"),
    "os_exit_at_import": _with("import os\nos._exit(0)\n"),
    "sys_exit_in_function": _replace_backoff("import sys\nsys.exit(0)\n"),
    "os_exit_in_function": _replace_backoff("import os\nos._exit(0)\n"),
    "read_solutions": _with(
        f"""
        import glob
        for path in [{str(SOLUTIONS / "ex01_retry.py")!r}, {str(HIDDEN / "ex01.py")!r}]:
            try:
                exec(open(path).read(), globals())
                print("READ", path)
            except Exception as exc:
                print("DENIED", type(exc).__name__)
        print("GLOB", glob.glob("/work/**/solutions/*.py", recursive=True) + glob.glob("/*/solutions/*.py"))
        """
    ),
    "patch_builtins": _with(
        """
        import builtins, json, sys
        builtins.isinstance = lambda *args: True
        builtins.type = lambda *args: float
        json.dumps = lambda *args, **kwargs: '{"verdict": "passed"}'
        """
    ),
    "patch_channel": _with(
        """
        import gc, sys
        for obj in gc.get_objects():
            if type(obj).__name__ == "_Channel":
                original = obj.send
                def send(kind, _original=original, **fields):
                    if kind == "check":
                        fields = {"id": fields["id"], "status": "returned", "value": True, "passed": True}
                    _original(kind, **fields)
                obj.send = send
        sys.modules["day6.grading._spec"].encode = lambda value: True
        sys.modules["day6.grading._spec"].compare = lambda *args: None
        """
    ),
    "eq_always_true": _with(
        """
        class Anything(float):
            def __eq__(self, other):
                return True
            __hash__ = float.__hash__
            def __float__(self):
                return 0.0
            def __bool__(self):
                return True

        def backoff_delay(attempt, **kwargs):
            kwargs["rng"].random()
            return Anything(-1.0)

        def retry_call(fn, **kwargs):
            return Anything(-1.0)
        """
    ),
    "forged_stdout": _with(f"print({_FORGED_LINE!r})\nimport sys\nsys.stdout.flush()\n"),
    "forged_pipe": _with(
        f"""
        import os
        for fd in range(3, 64):
            try:
                os.write(fd, b{(_FORGED_LINE + chr(10))!r})
            except OSError:
                pass
        """
    ),
    "steal_secrets": _with(
        """
        import os
        print("ENV", sorted(os.environ))
        print("KEY", os.environ.get("OPENAI_API_KEY"))
        try:
            print("PARENT", open(f"/proc/{os.getppid()}/environ").read()[:500])
        except OSError as exc:
            print("PARENT DENIED", type(exc).__name__)
        """
    ),
    "kill_the_grader": _with(
        """
        import os, signal
        for target in (os.getppid(), -1, 1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as exc:
                print("kill refused", target, type(exc).__name__)
        """
    ),
}


@pytest.fixture(scope="module")
def hostile_results() -> Iterator[tuple[dict[str, ExerciseResult], Grader]]:
    """Grade every hostile submission (ex01 only) in one batch, 2 workers, 3 s deadline."""
    if not ISOLATION_AVAILABLE:
        pytest.skip("strict grading needs Linux x86-64 with Landlock and seccomp")
    grader = Grader(
        policy=_fast_policy(), solutions_dir=SOLUTIONS, hidden_dir=HIDDEN, exercises=["ex01"], workers=2
    )
    os.environ["OPENAI_API_KEY"] = _SECRET  # the grader's own environment holds a key
    try:
        results = grader.grade([Submission(name, {"ex01": source}) for name, source in HOSTILE.items()])
    finally:
        del os.environ["OPENAI_API_KEY"]
    yield {r.student: r for r in results}, grader
    grader.sandbox.close()


EXPECTED_STATUS = {
    "loop_at_import": "timeout",
    "loop_in_function": "timeout",
    "loop_swallowing_everything": "timeout",
    "sleep_forever": "timeout",
    "memory_hog_at_import": "memory",
    "memory_hog_in_function": "memory",
    "fork_bomb": "import_error",
    "fork_bomb_ignoring_errors": "timeout",
    "huge_output": "output_limit",
    "sys_exit_at_import": "exited",
    "os_exit_at_import": "exited",
    "sys_exit_in_function": "exited",
    "os_exit_in_function": "exited",
    "read_solutions": "not_implemented",
    "patch_builtins": "forged",
    "patch_channel": "failed",
    "eq_always_true": "failed",
    "forged_stdout": "not_implemented",
    "forged_pipe": "forged",
    "kill_the_grader": "not_implemented",
    "steal_secrets": "not_implemented",
}


@pytest.mark.slow
@needs_isolation
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_earns_nothing(
    name: str, hostile_results: tuple[dict[str, ExerciseResult], Grader]
) -> None:
    """Each hostile submission scores 0 with a specific status, and the batch finished around it."""
    results, _grader = hostile_results
    result = results[name]
    assert result.points == 0, result
    assert result.status == EXPECTED_STATUS[name], (result.status, result.message)


@pytest.mark.slow
@needs_isolation
def test_hostile_batch_details(hostile_results: tuple[dict[str, ExerciseResult], Grader]) -> None:
    """The attempts really happened and were refused: reads denied, kills refused, statuses named."""
    results, _grader = hostile_results
    assert results["read_solutions"].stdout.count("DENIED PermissionError") == 2
    assert "READ" not in results["read_solutions"].stdout
    assert "GLOB []" in results["read_solutions"].stdout
    assert results["kill_the_grader"].stdout.count("kill refused") == 3
    stolen = results["steal_secrets"].stdout
    assert "ENV ['HOME', 'LANG', 'LC_ALL', 'PATH']" in stolen
    assert "KEY None" in stolen
    assert "PARENT DENIED" in stolen
    assert _SECRET not in json.dumps([r.stdout + r.stderr + r.message for r in results.values()])
    assert {c.status for c in results["memory_hog_in_function"].checks} >= {"memory"}
    assert {c.status for c in results["sys_exit_in_function"].checks} >= {"exited"}
    assert "tampered" in results["forged_pipe"].message
    assert "line" in results["loop_at_import"].message or "took longer" in results["loop_at_import"].message
    assert len(results) == len(HOSTILE)


@pytest.mark.slow
@needs_isolation
def test_no_process_outlives_the_batch(hostile_results: tuple[dict[str, ExerciseResult], Grader]) -> None:
    """After the hostile batch, no process runs from any job folder of this sandbox (a /proc scan)."""
    _results, grader = hostile_results
    marker = str(grader.sandbox.root).encode()
    survivors = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            survivors.append((entry.name, cmdline))
    assert survivors == []


@pytest.mark.slow
@needs_isolation
def test_hijacking_the_channel_with_public_answers_cannot_pass_hidden_checks(full_grader: Grader) -> None:
    """The known limit, bounded: code that replays the published visible answers earns no hidden point.

    A submission runs in the same process as the runner, so it can rewrite what the runner reports;
    that is no more than hard-coding answers, and the hidden checks (other inputs, expectations
    never shipped) are what defeat it.
    """
    answers = json.dumps({k: v for k, v in visible_expectations().items() if k.startswith("ex01.")})
    source = _with(
        f"""
        import gc, json
        _ANSWERS = json.loads({answers!r})
        for obj in gc.get_objects():
            if type(obj).__name__ == "_Channel":
                original = obj.send
                def send(kind, _original=original, **fields):
                    if kind == "check" and fields["id"] in _ANSWERS:
                        fields = {{"id": fields["id"], "status": "returned", "value": _ANSWERS[fields["id"]]}}
                    _original(kind, **fields)
                obj.send = send
        """
    )
    [result] = [r for r in full_grader.grade([Submission("h", {"ex01": source})]) if r.exercise == "ex01"]
    assert sum(c.points for c in result.checks if c.hidden) == 0
    assert result.points <= 10
