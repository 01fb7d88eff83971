"""The quick parser: the common command lines, read without argparse.

Importing argparse (with re, gettext and locale behind it) costs more than most commands take.
So :func:`parse` reads the command lines it can be sure of, from the same declarations argparse
uses: each subcommand's configure function is run against a :class:`Recorder`, which notes its
``add_argument`` calls.  Anything it is not sure of (``--help``, an unknown or abbreviated option,
a bad value, a mutually exclusive group) returns None, and argparse reads the line instead, with
its messages.  So the two can never disagree on a line both accept, except in speed.
"""

from __future__ import annotations

from .args import REMAINDER, Arguments
from .commands import find_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .args import Handler

_UNSET = object()


class Option:
    """One ``add_argument`` call, as the quick parser reads it."""

    def __init__(self, names: tuple[str, ...], spec: dict[str, Any]) -> None:
        self.names = names
        self.positional = not names[0].startswith("-")
        self.action = spec.pop("action", "store")
        self.nargs = spec.pop("nargs", None)
        self.kind = spec.pop("type", None)
        self.choices = spec.pop("choices", None)
        self.dest = spec.pop("dest", None) or (names[0] if self.positional else _dest(names))
        self.default = spec.pop("default", _UNSET)
        for ignored in ("help", "metavar", "required"):
            spec.pop(ignored, None)
        self.unknown = set(spec)  # anything else: leave the line to argparse

    def initial(self) -> Any:
        if self.action == "store_true":
            return False if self.default is _UNSET else self.default
        if self.action == "append" or self.nargs in ("*", REMAINDER):
            return list(self.default) if isinstance(self.default, list) else []
        return None if self.default is _UNSET else self.default

    def convert(self, text: str) -> Any:
        value = self.kind(text) if self.kind is not None else text
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{value!r} is not a choice")
        return value


def _dest(names: tuple[str, ...]) -> str:
    long = next((name for name in names if name.startswith("--")), names[0])
    return long.lstrip("-").replace("-", "_")


class Recorder:
    """Stands in for an argparse parser while a configure function declares its arguments."""

    def __init__(self) -> None:
        self.options: list[Option] = []
        self.sure = True
        self.epilog = ""
        self.formatter_class: Any = None

    def add_argument(self, *names: str, **spec: Any) -> None:
        option = Option(names, dict(spec))
        self.sure &= not option.unknown and option.action in ("store", "store_true", "append")
        self.options.append(option)

    def add_mutually_exclusive_group(self, **spec: Any) -> Recorder:
        self.sure = False  # argparse checks the group
        return self


def _settings_options() -> list[Option]:
    from ..settings import FIELDS
    from .args import SHORT

    return [Option((field.flag, *([SHORT[field.name]] if field.name in SHORT else [])), {"dest": field.name})
            for field in FIELDS if field.flag]


def parse(argv: Sequence[str]) -> tuple[Handler, Arguments] | None:
    """The handler and arguments of ``argv``, or None: argparse must read this line."""
    settings = _settings_options()
    words = list(argv)
    args = Arguments()
    while words and words[0].startswith("-"):  # the settings, before the subcommand
        if not _read_option(words, settings, args):
            return None
    command = find_command(words[0]) if words else None
    if command is None:
        return None
    recorder = Recorder()
    command[2](recorder)
    if not recorder.sure:
        return None
    for option in recorder.options:
        setattr(args, option.dest, option.initial())
    if not _read_command(words[1:], recorder.options, settings, args):
        return None
    return command[3], args


def _read_option(words: list[str], options: list[Option], args: Arguments) -> bool:
    """Read the option at ``words[0]`` (and its value), removing them; False if unsure."""
    word = words.pop(0)
    flag, equals, attached = word.partition("=")
    option = next((candidate for candidate in options if flag in candidate.names and not candidate.positional), None)
    if option is None:
        return False
    if option.action == "store_true":
        if equals:
            return False
        setattr(args, option.dest, True)
        return True
    if equals:
        text = attached
    elif words and (not words[0].startswith("-") or words[0] == "-"):
        text = words.pop(0)
    else:
        return False
    try:
        value = option.convert(text)
    except Exception:  # argparse says what is wrong with it
        return False
    if option.action == "append":
        getattr(args, option.dest).append(value)
    else:
        setattr(args, option.dest, value)
    return True


def _read_command(words: list[str], options: list[Option], settings: list[Option], args: Arguments) -> bool:
    """Read a subcommand's own arguments: its options and the settings anywhere, its positionals
    in order; a remainder takes every word from the first word that is not an option."""
    positionals = [option for option in options if option.positional]
    named = [option for option in options if not option.positional] + settings
    while words:
        if words[0].startswith("-") and words[0] not in ("-", "--"):
            if not _read_option(words, named, args):
                return False
            continue
        if not positionals:
            return False
        option = positionals[0]
        if option.nargs == REMAINDER:
            setattr(args, option.dest, words)
            return True
        if words[0] == "--":
            return False
        try:
            value = option.convert(words.pop(0))
        except Exception:
            return False
        if option.nargs == "*":
            getattr(args, option.dest).append(value)
        else:
            setattr(args, option.dest, value)
            positionals.pop(0)
    return all(option.nargs in ("?", "*", REMAINDER) for option in positionals)
