"""The task file format: exact round-trips (property-based) and strict parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tmuxorch.errors import UsageError
from pytest_tmuxorch.tasks.names import claim_order, id_of, queued_name
from pytest_tmuxorch.tasks.store import (
    MalformedTaskError,
    Run,
    Task,
    check_id,
    escape,
    parse,
    parse_env_assignment,
    serialize,
    unescape,
)

any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
no_nul = st.text(alphabet=st.characters(exclude_characters="\0", exclude_categories=()), max_size=30)
env_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z")
ids = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.,+@=-]{0,20}\Z").filter(lambda s: ".." not in s)
commands = st.one_of(
    no_nul.filter(lambda s: s.strip() != ""),
    st.lists(no_nul, min_size=1, max_size=5),
)
optional_floats = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
optional_ints = st.one_of(st.none(), st.integers(-(2**40), 2**40))

positive_floats = st.floats(min_value=1e-3, max_value=1e8, allow_nan=False)
runs = st.builds(
    Run,
    attempt=st.integers(0, 1000),
    worker=st.one_of(st.none(), ids),
    started=optional_floats,
    ended=optional_floats,
    exit_status=optional_ints,
    signal=optional_ints,
    timed_out=st.booleans(),
    cancelled=st.booleans(),
)

tasks = st.builds(
    Task,
    after=st.lists(ids, max_size=3, unique=True),
    priority=st.integers(-999_999, 999_999),
    timeout=st.one_of(st.none(), positive_floats),
    retries=st.integers(0, 1000),
    timed_out=st.booleans(),
    dependency_failed=st.one_of(st.none(), ids),
    runs=st.lists(runs, max_size=3),
    id=ids,
    command=commands,
    cwd=st.one_of(st.none(), any_text),
    env=st.dictionaries(env_names, any_text, max_size=4),
    created=optional_floats,
    attempt=st.integers(0, 1000),
    worker=st.one_of(st.none(), any_text),
    worker_pid=optional_ints,
    started=optional_floats,
    pid=optional_ints,
    ended=optional_floats,
    exit_status=optional_ints,
    signal=optional_ints,
    cancelled=st.booleans(),
    error=st.one_of(st.none(), any_text),
)


@given(any_text)
@settings(max_examples=500)
def test_escape_round_trips_any_string_on_one_line(value: str) -> None:
    line = escape(value)
    assert "\n" not in line and "\r" not in line
    assert unescape(line) == value


@given(tasks)
@settings(max_examples=400)
def test_task_round_trips_exactly(task: Task) -> None:
    text = serialize(task)
    assert parse(text) == task
    # the file is lines of KEY=value and nothing breaks a line but the separators we wrote
    assert all("=" in line for line in text.splitlines() if not line.startswith("#"))


def test_readable_format_with_awkward_values() -> None:
    task = Task(id="job-1", command="printf 'a=b\\n' \"it's\"\necho ünïcödé", cwd="/tmp/x y",
                env={"A": "1=2", "B": "line1\nline2", "C": "back\\slash"})
    text = serialize(task)
    assert "CMD=printf 'a=b\\\\n' \"it's\"\\necho ünïcödé" in text
    assert "ENV=A=1=2" in text and "ENV=B=line1\\nline2" in text and "ENV=C=back\\\\slash" in text
    assert "MODE=shell" in text
    assert parse(text) == task


def test_argv_is_stored_quoted_and_comes_back_word_for_word() -> None:
    task = Task(id="a", command=["printf", "%s\n", "a b", "", "it's", "$HOME", "-n"])
    text = serialize(task)
    assert "MODE=argv" in text
    assert parse(text).command == ["printf", "%s\n", "a b", "", "it's", "$HOME", "-n"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty file"),
        ("ID=a\nMODE=shell\nCMD=true", "cut short"),
        ("ID=a\nMODE=shell", "no CMD= line (and no final newline)"),
        ("ID=a\nMODE=shell\n", "no CMD"),
        ("MODE=shell\nCMD=true\n", "no ID"),
        ("ID=a\nMODE=shell\nCMD=true\nCMD=false\n", "CMD given twice"),
        ("ID=a\nMODE=shell\nCMD=true\nBOGUS=1\n", "known key"),
        ("ID=a\nMODE=shell\nCMD=true\njust a line\n", "known key"),
        ("ID=a\nMODE=shell\nCMD=bad \\q escape\n", "bad escape"),
        ("ID=a\nMODE=shell\nCMD=cut \\\n", "bad escape"),
        ("ID=a\nMODE=shell\nCMD=true\nATTEMPT=two\n", "ATTEMPT"),
        ("ID=a\nMODE=shell\nCMD=true\nENV=noequals\n", "ENV"),
        ("ID=a\nMODE=shell\nCMD=true\nENV=A=1\nENV=A=2\n", "repeated ENV"),
        ("ID=a\nMODE=weird\nCMD=true\n", "MODE"),
        ("ID=a\nMODE=argv\nCMD='unclosed\n", "quoted argv"),
        ("ID=../etc\nMODE=shell\nCMD=true\n", "invalid task ID"),
        ("ID=a\nMODE=shell\nCMD=  \n", "empty command"),
        ("ID=a\nMODE=shell\nCMD=true\nCANCELLED=yes\n", "CANCELLED"),
        ("ID=a\nMODE=shell\nCMD=true\nAFTER=b\nAFTER=b\n", "'b' given twice"),
        ("ID=a\nMODE=shell\nCMD=true\nAFTER=../b\n", "invalid task ID"),
        ("ID=a\nMODE=shell\nCMD=true\nPRIORITY=1000000\n", "PRIORITY: out of range"),
        ("ID=a\nMODE=shell\nCMD=true\nTIMEOUT=0\n", "TIMEOUT: not positive"),
        ("ID=a\nMODE=shell\nCMD=true\nRETRIES=-1\n", "RETRIES: negative"),
        ("ID=a\nMODE=shell\nCMD=true\nRUN=worker=w0\n", "no attempt="),
        ("ID=a\nMODE=shell\nCMD=true\nRUN=attempt=1 exit=x\n", "RUN"),
        ("ID=a\nMODE=shell\nCMD=true\nRUN=attempt=1 attempt=2\n", "repeated field"),
        ("ID=a\nMODE=shell\nCMD=true\nTIMED_OUT=2\n", "TIMED_OUT must be 0 or 1"),
    ],
)
def test_malformed_files_raise_a_clear_error(text: str, why: str) -> None:
    with pytest.raises(MalformedTaskError, match="malformed") as info:
        parse(text, "queue/a")
    assert why in str(info.value)
    assert "queue/a" in str(info.value)


@pytest.mark.parametrize("bad", ["", ".hidden", "-x", "a/b", "..", "a..b", "x\ny", "nul\0", "sp ace", "é", "a" * 129])
def test_unsafe_ids_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid task ID"):
        check_id(bad)


@pytest.mark.parametrize("good", ["a", "build-1", "x.y_z", "A" * 128, "20260101-000000.000000001-0000001"])
def test_safe_ids_are_accepted(good: str) -> None:
    assert check_id(good) == good


def test_env_assignments() -> None:
    assert parse_env_assignment("K=V=W") == ("K", "V=W")
    assert parse_env_assignment("_k1=") == ("_k1", "")
    for bad in ("K", "=V", "1K=V", "K-1=V", "K V=x"):
        with pytest.raises(UsageError):
            parse_env_assignment(bad)


def test_a_finished_task_reads_back_with_its_runs_and_options() -> None:
    task = Task(id="job", command="make", after=["build", "lint"], priority=5, timeout=1.5, retries=2,
                runs=[Run(attempt=1, worker="w0", started=1.0, ended=2.5, exit_status=3),
                      Run(attempt=2, worker="w1", started=3.0, ended=4.5, signal=9, timed_out=True)],
                attempt=2, exit_status=None, signal=9, timed_out=True, started=3.0, ended=4.5)
    text = serialize(task)
    assert "AFTER=build\nAFTER=lint\nPRIORITY=5\nTIMEOUT=1.5\nRETRIES=2\n" in text
    assert "RUN=attempt=1 worker=w0 started=1.0 ended=2.5 exit=3\n" in text
    assert "RUN=attempt=2 worker=w1 started=3.0 ended=4.5 signal=9 timed_out=1\n" in text
    back = parse(text)
    assert back == task and back.outcome == "timed out" and back.exit_code == 124 and back.runtime == 1.5
    assert back.failures == 2 and not back.ok and back.runs[0].outcome == "exit 3"
    assert task.reset().runs == task.runs and task.reset().timed_out is False


@given(st.lists(st.tuples(st.integers(-999_999, 999_999), st.floats(1e9, 4e9), ids), min_size=1, max_size=20,
                unique_by=lambda item: item[2]))
def test_queued_names_sort_in_claim_order(entries: list[tuple[int, float, str]]) -> None:
    names = {queued_name(Task(id=task_id, command="x", priority=priority, created=created)): (priority, created, task_id)
             for priority, created, task_id in entries}
    order = [names[name] for name in sorted(names, key=claim_order)]
    assert order == sorted(order, key=lambda item: (-item[0], int(item[1] * 1_000_000), item[2]))
    assert all(id_of(name) == names[name][2] for name in names)
