"""Settings: environment defaults, flag overrides, validation with one-line errors."""

from __future__ import annotations

import pytest

from pytest_tmuxorch.errors import UsageError
from pytest_tmuxorch.settings import SHELL_PRESETS, Settings, from_env


def test_seed_defaults() -> None:
    settings = from_env({})
    assert (settings.socket, settings.session, settings.master_window, settings.workers_window) == (
        "claude", "agents", "master", "workers",
    )
    assert (settings.workers, settings.base_index, settings.pane_base_index) == (4, 1, 1)
    assert (settings.history_limit, settings.remain_on_exit, settings.allow_rename, settings.layout) == (
        50000, "on", "off", "tiled",
    )
    assert str(settings.tasks_root) == "var/tmux/agents/tasks"
    assert str(settings.logs_root) == "logs/tmux/agents"


def test_environment_then_flags() -> None:
    env = {"TMUX_SOCKET": "s1", "TMUX_SESSION": "sess", "WORKERS": "6", "WORKER_LAYOUT": "even-vertical",
           "TMUX_REMAIN_ON_EXIT": "failed", "TMUX_HISTORY_LIMIT": "100", "TMUX_BASE_INDEX": "0"}
    settings = from_env(env, workers=3, session=None)
    assert (settings.socket, settings.session, settings.workers, settings.layout) == ("s1", "sess", 3, "even-vertical")
    assert (settings.remain_on_exit, settings.history_limit, settings.base_index) == ("failed", 100, 0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORKERS": "abc"}, "invalid WORKERS 'abc': expected a whole number"),
        ({"WORKERS": "0"}, "invalid WORKERS '0': must be a whole number from 1 to 64"),
        ({"WORKERS": "65"}, "invalid WORKERS '65'"),
        ({"WORKER_LAYOUT": "spiral"}, "invalid WORKER_LAYOUT 'spiral': choose one of tiled, even-horizontal, even-vertical"),
        ({"TMUX_SOCKET": "a/b"}, "invalid TMUX_SOCKET 'a/b'"),
        ({"TMUX_SESSION": "has space"}, "invalid TMUX_SESSION 'has space'"),
        ({"TMUX_SESSION": "x:y"}, "invalid TMUX_SESSION 'x:y'"),
        ({"TMUX_REMAIN_ON_EXIT": "maybe"}, "invalid TMUX_REMAIN_ON_EXIT 'maybe'"),
        ({"TMUX_HISTORY_LIMIT": "-1"}, "invalid TMUX_HISTORY_LIMIT '-1'"),
        ({"TMUXORCH_TIMEOUT": "0"}, "invalid TMUXORCH_TIMEOUT '0'"),
        ({"TMUXORCH_SOCKET_PATH": "/tmp/" + "x" * 120}, "invalid TMUXORCH_SOCKET_PATH"),
        ({"MASTER_WINDOW": "same", "WORKERS_WINDOW": "same"}, "master and workers are both 'same'"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        from_env(env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_flag_names_the_flag() -> None:
    with pytest.raises(UsageError, match=r"invalid --layout 'grid'"):
        from_env({}, layout="grid")


def test_shell_presets_are_clean_and_custom_commands_pass_through() -> None:
    assert "--norc --noprofile" in Settings(shell="bash").shell_command
    assert Settings(shell="sh").shell_command.endswith("sh -i")
    assert Settings(shell="user").shell_command == ""
    assert Settings().shell == "clean" and "--norc --noprofile" in Settings().shell_command
    assert Settings(shell="zsh -f").shell_command == "zsh -f"
    assert set(SHELL_PRESETS) == {"clean", "bash", "sh", "user"}
    assert [Settings(shell=shell).integration for shell in ("bash", "sh", "user", "zsh -f")] == ["bash", "sh", None, None]


def test_settings_are_frozen_and_replace_revalidates() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.workers = 3  # type: ignore[misc]
    with pytest.raises(UsageError):
        settings.replace(workers=0)
    assert settings.replace(workers=8).workers == 8


def test_the_readme_lists_every_setting_with_its_variable_and_flag() -> None:
    from pathlib import Path

    from pytest_tmuxorch.settings import FIELDS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[3].startswith("`"):
            rows[cells[0].strip("`")] = cells
    assert sorted(rows) == sorted(field.name for field in FIELDS)
    defaults = Settings()
    for field in FIELDS:
        _, _, default, variable, flags = rows[field.name]
        assert variable == f"`{field.env}`"
        assert (f"`{field.flag}`" in flags) if field.flag else not flags
        value = getattr(defaults, field.name)
        if value is not None:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            assert f"`{shown}`" in default, field.name


def test_the_typed_declaration_matches_the_field_table() -> None:
    """settings.py declares the fields twice, for type checkers (a NamedTuple) and at run time (from
    FIELDS, without importing typing): the two must agree, names, order and defaults."""
    import ast
    import inspect

    from pytest_tmuxorch import settings as module

    tree = ast.parse(inspect.getsource(module))
    declared = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == "_Fields")
    names = [item.target.id for item in declared.body if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)]
    defaults = [eval(ast.unparse(item.value), vars(module)) for item in declared.body if isinstance(item, ast.AnnAssign)]
    assert names == [field.name for field in module.FIELDS] == list(Settings._fields)
    assert defaults == [field.default for field in module.FIELDS] == list(Settings())


def test_records_behave_as_named_tuples() -> None:
    """The records the start-up path uses instead of collections.namedtuple (see _record.py)."""
    import pickle

    from pytest_tmuxorch._record import record

    point = record("Point", "x y z", defaults=(0,))
    assert point(1, 2) == (1, 2, 0) and point(1, y=2, z=3).z == 3
    assert point(1, 2)._asdict() == {"x": 1, "y": 2, "z": 0} and point(1, 2)._replace(y=5) == (1, 5, 0)
    assert repr(point(1, 2)) == "Point(x=1, y=2, z=0)" and point._fields == ("x", "y", "z")
    assert pickle.loads(pickle.dumps(Settings(workers=3))) == Settings(workers=3)
    assert type(point(1, 2)._replace(y=5)) is point and point(1, 2, 3)._replace() == (1, 2, 3)
    for bad in (lambda: point(1), lambda: point(1, 2, 3, 4), lambda: point(1, 2, w=1), lambda: point(1, 2, x=1),
                lambda: point(1, 2)._replace(w=1)):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(AttributeError):
        point(1, 2).x = 5  # type: ignore[misc]
