"""Golden screen snapshots with syrupy: ``assert pane.screen() == tmuxorch_snapshot``.

Needs the ``snapshot`` extra (``pip install 'pytest-tmuxorch[snapshot]'``); only the
``tmuxorch_snapshot`` fixture (always there, in :mod:`pytest_tmuxorch.fixtures`) imports this
module, when a test asks for it.  With syrupy's own fixture, pass the extension:
``assert screen == snapshot(extension_class=ScreenExtension)``::

    def test_menu(tmuxorch, tmuxorch_snapshot):
        ...
        assert pane.screen() == tmuxorch_snapshot

Each snapshot is one readable file, ``__screens__/<test file>/<test>.screen``: the size, the
rows' text (blank rows at the end left out), then the style map (``row 3 col 0-9: fg=red bold``); cells not listed have the
default style.  Next to it, ``<test>.screen.svg`` shows the screen for review (written with the
snapshot, deleted with it; it plays no part in the comparison).  ``--snapshot-update`` writes
both.  On a mismatch the failure shows the rows whose text changed, then the cells whose style
changed, old and new.

Not ``__snapshots__``: syrupy's default extension scans that whole tree and, on
``--snapshot-update``, deletes every file no snapshot claims, pictures included, whenever a test
module also uses the plain ``snapshot`` fixture.

Why a single file per snapshot rather than syrupy's default ``.ambr`` (one file per test
module): a screen is a picture, and one file per screen puts each picture next to its text, gives
a review one diff per screen, and keeps the text free of the amber format's indentation and
quoting (a screen row starting with spaces or quotes stays as it is).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.terminal import received_style, snapshot_style

from .errors import UsageError
from .screen import Screen, describe_difference

if TYPE_CHECKING:
    from syrupy.data import SnapshotCollection, SnapshotCollections
    from syrupy.location import PyTestLocation
    from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SerializedData


class ScreenExtension(SingleFileSnapshotExtension):
    """A syrupy extension storing a :class:`~pytest_tmuxorch.screen.Screen` as text and styles,
    with an SVG picture alongside for review."""

    snapshot_dirname = "__screens__"  # not __snapshots__: amber would delete the pictures there
    file_extension = "screen"
    _file_extension = "screen"  # the name syrupy 4 reads
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        # syrupy's single-file layout, <dir>/<test file>/, under our directory (its own
        # dirname reads the base class's, whatever a subclass sets)
        return str(Path(test_location.filepath).parent / cls.snapshot_dirname / test_location.basename)

    def discover_snapshots(
        self, *, test_location: PyTestLocation, ignore_extensions: list[str] | None = None
    ) -> SnapshotCollections:
        # The pictures are not snapshots: hidden from discovery, syrupy never reports them as
        # unknown nor deletes them (syrupy 6 would, right after writing them).
        return super().discover_snapshots(
            test_location=test_location, ignore_extensions=[*(ignore_extensions or []), "svg"]
        )

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        if not isinstance(data, Screen):
            raise TypeError(f"screen snapshots compare Screen objects (from pane.screen()), not {type(data).__name__}")
        return data.to_snapshot_text()

    @classmethod
    def write_snapshot_collection(
        cls, *, snapshot_collection: SnapshotCollection, name_order: dict[str, int] | None = None
    ) -> None:
        super().write_snapshot_collection(snapshot_collection=snapshot_collection)
        picture = svg_path(snapshot_collection.location)
        try:
            screen = Screen.from_snapshot_text(str(next(iter(snapshot_collection)).data))
        except UsageError:
            picture.unlink(missing_ok=True)  # a picture of something else would mislead
            return
        picture.write_text(screen.to_svg(title=Path(snapshot_collection.location).stem, cursor=False), encoding="utf-8")

    def delete_snapshots(self, *, snapshot_location: str, snapshot_names: set[str]) -> None:
        super().delete_snapshots(snapshot_location=snapshot_location, snapshot_names=snapshot_names)
        svg_path(snapshot_location).unlink(missing_ok=True)

    def diff_lines(self, serialized_data: SerializedData, snapshot_data: SerializedData) -> Iterator[str]:
        try:
            received = Screen.from_snapshot_text(str(serialized_data))
            expected = Screen.from_snapshot_text(str(snapshot_data))
        except UsageError:  # no snapshot yet, or a file edited out of shape: syrupy's line diff
            yield from super().diff_lines(serialized_data, snapshot_data)
            return
        for line in describe_difference(expected, received, names=("snapshot", "received")):
            if line.startswith("- "):
                yield snapshot_style(line)
            elif line.startswith("+ "):
                yield received_style(line)
            else:
                yield line


def svg_path(snapshot_location: str) -> Path:
    """Where the picture of the snapshot stored at ``snapshot_location`` goes."""
    return Path(f"{snapshot_location}.svg")
