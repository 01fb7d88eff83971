"""asciicast v2 recordings: the format, UTF-8 split across chunks, the memory cap, and a real
program's output recorded through tmux and played back into a pane to the same screen."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import wait_until

from pytest_tmuxorch import Orchestrator, Settings
from pytest_tmuxorch.errors import UsageError
from pytest_tmuxorch.recording import Cast, Event, Recording, from_stream, load_cast, screen_frame
from pytest_tmuxorch.screen import capture_screen
from pytest_tmuxorch.streams import PaneStream, layout_sizes

T0 = 1_700_000_000.25


def test_header_and_events_follow_asciicast_v2(tmp_path: Path) -> None:
    recording = Recording(80, 24, T0, title="worker 0", env={"TERM": "tmux-256color"})
    recording.output(T0 + 0.5, b"hello\r\n")
    recording.resize(T0 + 1.25, 100, 30)
    recording.marker(T0 + 2, "test failed")
    recording.output(T0 + 3.0000004, b"\x1b[31mred\x1b[0m")
    path = recording.dump(tmp_path / "deep" / "pane.cast")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"version": 2, "width": 80, "height": 24, "timestamp": 1_700_000_000,
                                    "title": "worker 0", "env": {"TERM": "tmux-256color"}}
    assert [json.loads(line) for line in lines[1:]] == [
        [0.5, "o", "hello\r\n"], [1.25, "r", "100x30"], [2, "m", "test failed"], [3.0, "o", "\x1b[31mred\x1b[0m"],
    ]
    cast = load_cast(path)
    assert cast.header["width"] == 80 and cast.output == "hello\r\n\x1b[31mred\x1b[0m"
    assert cast.events[1] == Event(1.25, "r", "100x30")


def test_times_never_go_backwards() -> None:
    recording = Recording(80, 24, T0)
    recording.output(T0 + 2, b"a")
    recording.output(T0 + 1, b"b")  # the wall clock stepped back
    recording.output(T0 - 5, b"c")
    assert [event.time for event in recording.events] == [2, 2, 2]


def test_a_character_split_across_chunks_is_decoded_whole() -> None:
    text = "héllo ✓ 日本 🚀 done"
    data = text.encode()
    for size in (1, 2, 3, 5):
        recording = Recording(80, 24, T0)
        for start in range(0, len(data), size):
            recording.output(T0 + start, data[start : start + size])
        assert "".join(event.data for event in recording.events) == text
        assert "\ufffd" not in recording.to_text()


def test_invalid_bytes_become_replacement_characters() -> None:
    recording = Recording(80, 24, T0)
    recording.output(T0, b"ok \xff\xfe ok")
    assert recording.events[0].data == "ok \ufffd\ufffd ok"


def test_memory_is_capped_dropping_the_oldest_and_saying_so(tmp_path: Path) -> None:
    recording = Recording(80, 24, T0, max_bytes=1024)
    recording.resize(T0 + 0.1, 120, 40)
    for n in range(100):
        recording.output(T0 + 1 + n, f"line {n:04d} ".encode() * 5)
    kept = recording.events
    assert sum(len(event.data.encode()) + 16 for event in kept) <= 1024
    assert kept[-1].data == "line 0099 " * 5, "the newest output is kept whole"
    events, size = recording.dropped
    assert events == 101 - len(kept) and size == (101 - len(kept) - 1) * 50
    cast = load_cast(recording.dump(tmp_path / "capped.cast"))
    assert (cast.header["width"], cast.header["height"]) == (120, 40), "the size in force at the first event kept"
    assert cast.events[0].code == "m" and f"{size} bytes of earlier output dropped" in cast.events[0].data
    assert cast.events[0].time == cast.events[1].time
    assert cast.output.endswith("line 0099 " * 5)


def test_one_chunk_larger_than_the_cap_keeps_its_end() -> None:
    recording = Recording(80, 24, T0, max_bytes=100)
    recording.output(T0, "é".encode() * 100 + b"tail")
    (event,) = recording.events
    assert event.data.endswith("tail") and len(event.data.encode()) <= 84 and "\ufffd" not in event.data
    assert recording.dropped[1] == 204 - 84
    assert "dropped" in recording.to_text().splitlines()[1]


def test_bad_input() -> None:
    with pytest.raises(UsageError, match="invalid terminal size 0x24"):
        Recording(0, 24, T0)
    with pytest.raises(UsageError, match="invalid terminal size 80x-1"):
        Recording(80, 24, T0).resize(T0, 80, -1)
    with pytest.raises(UsageError, match="invalid max_bytes 0"):
        Recording(80, 24, T0, max_bytes=0)


def test_load_cast_rejects_what_is_not_a_cast(tmp_path: Path) -> None:
    for name, text in [("empty", ""), ("v1", '{"version": 1}\n'), ("junk", "hello\n"),
                       ("bad event", '{"version": 2, "width": 1, "height": 1}\n[1, "o"]\n')]:
        path = tmp_path / f"{name}.cast"
        path.write_text(text)
        with pytest.raises(UsageError, match="not an asciicast v2 file"):
            load_cast(path)


def test_a_real_programs_output_plays_back_to_the_same_screen(orch: Orchestrator, tmp_path: Path) -> None:
    """Record a pane's raw output (tmux pipe-pane: the bytes the program wrote) through a Recording
    fed in 3-byte chunks, then play the cast's output into the same pane: same cells, same styles."""
    pane = orch.worker(0)
    raw = tmp_path / "raw.bin"
    pane.tmux.run("pipe-pane", "-t", pane.id, f"cat > {raw}")
    pane.send("clear; ls --color=always -la /; printf '\\e[1;38;5;208mhéllo ✓ 日本 🚀\\e[0m\\n'; echo EN''D")
    pane.wait_for(re.compile(r"^END\n\$ $", re.M))
    recorded = capture_screen(pane.tmux, pane.id)
    # tmux drops what it has not yet written to the pipe when the pipe closes: wait, then close
    wait_until(lambda: re.search(rb"END\r\n.*\$ \x1b\]133;B\x07$", raw.read_bytes(), re.S), 10, what="the piped output")
    pane.tmux.run("pipe-pane", "-t", pane.id)
    data = raw.read_bytes()

    columns, rows = recorded.size
    recording = Recording(columns, rows, T0)
    for start in range(0, len(data), 3):
        recording.output(T0 + start / 1000, data[start : start + 3])
    cast = load_cast(recording.dump(tmp_path / "pane.cast"))
    assert cast.output.encode() == data

    replay = tmp_path / "replay.bin"
    replay.write_text(cast.output, encoding="utf-8")
    # A blank screen first: the screen that waits for the replay must not already be the one the
    # replay draws (send() returns before the pane has even echoed the line).
    pane.send("clear")
    pane.wait_prompt()
    pane.send(f"cat {replay}; read -r _")  # read keeps the shell from drawing a prompt over it

    def replayed() -> bool:
        return capture_screen(pane.tmux, pane.id) == recorded

    wait_until(replayed, 10, what="the replayed screen to match the recorded one")
    played = capture_screen(pane.tmux, pane.id)
    assert played.cursor == recorded.cursor
    row = next(n for n, line in enumerate(played.lines) if line.startswith("héllo"))
    assert played.style(row, 0).fg == 208 and played.style(row, 0).bold
    pane.send_keys("Enter")


# --- recordings from the control client's stream ---------------------------------------------------


def test_layout_sizes_reads_every_pane_of_a_layout_change() -> None:
    nested = "@1 b0a4,240x72,0,0[240x35,0,0,1,240x36,0,36{120x36,0,36,2,119x36,121,36,13}] b0a4,240x72,0,0[240x35,0,0,1,240x36,0,36{120x36,0,36,2,119x36,121,36,13}] *"
    assert layout_sizes(nested) == {"%1": (240, 35), "%2": (120, 36), "%13": (119, 36)}
    zoomed = "@0 408b,100x30,0,0[100x15,0,0,0,100x14,0,16,2] a87d,100x30,0,0,0 *Z"
    assert layout_sizes(zoomed) == {"%0": (100, 30)}, "the visible layout: the zoomed pane has the window"
    assert layout_sizes("") == {}


def test_a_gap_tells_input_answered_before_it_from_input_answered_after_it() -> None:
    """No byte came between the answers and the gaps, so offsets cannot tell them apart: the
    event positions do."""
    stream = PaneStream()
    stream.feed(b"$ ", 1, 100.0)
    answered_before = 2  # (an input answered as event 2: its output starts at offset 2)
    assert not stream.missing(answered_before)
    stream.gap(3, listening=False)  # the client ended
    assert stream.missing(answered_before), "not listening: its output may be missing"
    stream.gap(5, listening=True)  # a new client: still one gap, at offset 2
    assert len(stream.gaps) == 1 and stream.gaps[0].offset == 2
    answered_after = 6
    assert stream.missing(answered_before) and not stream.missing(answered_after)
    stream.feed(b"out\n", 7, 101.0)
    assert stream.missing(answered_before, end=6) and not stream.missing(answered_after, end=6)
    assert not stream.missing(1, end=2), "a gap at the end of what is read is after it"


def test_a_title_is_not_trusted_across_a_gap_at_its_own_offset() -> None:
    stream = PaneStream()
    stream.feed(b"\x1b]2;tmuxorch;3;0\x07", 1, 100.0)
    assert stream.title_at(stream.end) == "tmuxorch;3;0"
    stream.gap(2, listening=False)  # the title may have changed while no client listened
    assert stream.title_at(stream.end) is None
    assert stream.title_at(stream.end, 1) == "tmuxorch;3;0", "as it was at an answer before the gap"
    stream.feed(b"\x1b]2;tmuxorch;4;0\x07", 3, 101.0)
    assert stream.title_at(stream.end) == "tmuxorch;4;0"


def test_from_stream_orders_output_sizes_gaps_and_markers() -> None:
    stream = PaneStream()
    stream.feed(b"early", 1, 100.0)  # before the library read a size: the first size is the header's
    stream.resized(80, 24, 100.5)
    stream.feed(b"\xe2\x9c", 2, 101.0)  # a character split across chunks
    stream.feed(b"\x93 ok", 3, 101.5)
    stream.resized(80, 24, 101.6)  # the same size again: not a change
    stream.resized(100, 30, 102.0)
    stream.gap(4, listening=False)  # the client ended, and a new one started: one gap
    stream.gap(5, listening=True)
    stream.feed(b"after", 6, 103.0)
    stream.gap(7, listening=False)  # nothing after it: no marker at the end
    recording = from_stream(stream, (1, 1), title="pane", markers=[(102.5, "failed here"), (99.0, "before")])
    cast = Cast({}, recording.events)
    assert (recording.to_text().splitlines()[0], cast.output) == (
        f'{{"version": 2, "width": 80, "height": 24, "timestamp": {int(recording.started)}, "title": "pane"}}', "early✓ okafter")
    assert [(round(event.time, 3), event.code, event.data) for event in recording.events] == [
        (0.0, "m", "before"),  # a marker earlier than the first chunk is clamped to the start
        (0.0, "o", "early"), (1.5, "o", "✓ ok"), (2.0, "r", "100x30"),
        (2.0, "m", "tmuxorch: output may be missing here (the control client reconnected)"),
        (2.5, "m", "failed here"), (3.0, "o", "after"),
    ]
    assert from_stream(PaneStream(), (90, 20)).to_text().startswith('{"version": 2, "width": 90, "height": 20')


def test_from_stream_starts_with_the_frame_and_what_came_after_it() -> None:
    stream = PaneStream()
    stream.feed(b"old prompt", 1, 10.0)
    stream.resized(40, 10, 10.0)
    stream.set_frame(stream.end, 11.0, screen_frame(["\x1b[31m$ ", "", ""], (2, 0)))
    stream.feed(b"typed", 2, 12.0)
    events = from_stream(stream, (1, 1)).events
    assert [(event.time, event.data) for event in events] == [(0.0, "\x1b[0m\x1b[H\x1b[2J\x1b[31m$ \x1b[0m\x1b[1;3H"), (1.0, "typed")]


@pytest.mark.parametrize("transport", ["control"])
def test_a_panes_recording_plays_back_to_the_same_screen(orch: Orchestrator, tmp_path: Path) -> None:
    pane = orch.worker(0)
    pane.send("clear; ls --color=always -la /; printf '\\e[1;38;5;208mhéllo\\e[0m \\e[48;2;1;2;3mtrue\\e[0m ✓ 日本 🚀\\n'; echo EN''D")
    pane.wait_for(re.compile(r"^END\n\$ $", re.M))
    recorded = pane.screen()
    cast = load_cast(pane.recording().dump(tmp_path / "pane.cast"))
    assert (cast.header["version"], cast.header["width"], cast.header["height"]) == (2, *recorded.size)
    assert cast.header["timestamp"] == pytest.approx(time.time(), abs=60) and cast.header["title"] == "worker 0"
    assert "\x1b[1m\x1b[38;5;208mhéllo" in cast.output or "\x1b[1;38;5;208mhéllo" in cast.output
    assert all(later.time >= earlier.time for earlier, later in zip(cast.events, cast.events[1:], strict=False))

    replay = tmp_path / "replay.bin"
    clear = list(re.finditer(r"\x1b\[H\x1b\[2?J", cast.output))[-1]
    replay.write_text(cast.output[clear.start():], encoding="utf-8")  # from the clear on
    pane.send("clear")  # not the screen the replay draws, or the wait below would be met at once
    pane.wait_prompt()
    pane.send(f"cat {replay}; read -r _")
    wait_until(lambda: pane.screen() == recorded, 10, what="the replayed screen to match the recorded one")
    pane.send_keys("Enter")


@pytest.mark.parametrize("transport", ["control"])
def test_resizes_are_r_events_where_they_happened(orch: Orchestrator, tmp_path: Path) -> None:
    pane = orch.master
    pane.run("echo before-re''size")  # quotes: the echo of the typed line is not the output
    orch.resize(100, 30)
    pane.run("echo after-re''size")
    pane.resize(90, 20)
    cast = load_cast(pane.recording().dump(tmp_path / "master.cast"))
    assert (cast.header["width"], cast.header["height"]) == (240, 72), "the size the recording started at"
    codes = [(event.code, event.data) for event in cast.events if event.code == "r" or "resize\r\n" in event.data]
    assert [data if code == "r" else code for code, data in codes if code == "r" or "-resize\r\n" in data] == [
        "o", "100x30", "o", "90x20"], "each resize between the output before and after it"


def test_the_subprocess_transport_has_no_recording(settings: Settings) -> None:
    with Orchestrator(settings.replace(transport="subprocess")) as orch, pytest.raises(
        UsageError, match=r"no recording: the subprocess transport keeps no output \(use transport='control'\)"
    ):
        orch.worker(0).recording()
