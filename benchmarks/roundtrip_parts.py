"""Where the send + wait_for round trip goes: the floor, the transport alone, the whole library.

    python benchmarks/roundtrip_parts.py [--rounds N] [--busy]

Contenders, interleaved round by round on one machine (medians and ratios to the floor):

* floor: a raw control client sends one ``send-keys`` and reads ``%output`` itself;
* transport alone: the library's control transport posts the paste chain ``send()`` uses (or one
  ``send-keys``) and waits on the pane's stream, with none of the readiness rules, the record of
  the input or ``wait_for``'s anchoring;
* the library: ``pane.send`` + ``pane.wait_for``.

``--busy`` runs libtmux's ``send_keys`` + ``retry_until`` between contenders, as the round-trip
row of ``run.py`` does: the machine's caches see other work between two rounds.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import roundtrip
from kit import timed

from pytest_tmuxorch._proc import wait_until
from pytest_tmuxorch.keys import paste_commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--busy", action="store_true", help="libtmux round trips between contenders")
    args = parser.parse_args()
    bench = roundtrip.RoundTrip()
    try:
        pane = bench.orchs["control"].worker(0)
        transport = pane.tmux.transport
        stream = transport.stream(pane.id)
        assert stream is not None

        def until(done: Callable[[], bool], what: str) -> None:
            wait_until(lambda: True if done() else None, 10,
                       lambda: TimeoutError(f"the transport alone: {what} did not come within 10 s"),
                       lambda remaining, attempt: transport.wait_activity(pane.id, remaining, attempt))

        def transport_alone(commands: Callable[[str], list[list[str]]]) -> Callable[[], float]:
            def case() -> float:
                token = bench.token()
                wanted = f"\n{token}\r".encode()
                # Untimed: the shell's prompt is drawn (its B mark last), so that the line is not
                # typed ahead of it (the line's output would then follow the prompt, not a newline).
                until(lambda: bool(stream.marks) and stream.marks[-1].kind == "B", "the prompt")

                def run() -> None:
                    start = stream.end
                    transport.post(commands(token), 10)
                    until(lambda: wanted in stream.read(start), "the output")

                return timed(run)

            return case

        cases: dict[str, Callable[[], float]] = {
            "floor: one send-keys, read by the waiting thread": bench.floor_case,
            "transport alone: the paste chain": transport_alone(lambda token: paste_commands(pane.id, f"echo {token}")),
            "transport alone: one send-keys": transport_alone(
                lambda token: [["send-keys", "-t", pane.id, f"echo {token}", "Enter"]]),
            "the library: send + wait_for": bench.send_wait_case("control"),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        pane.run("true")  # a prompt drawn while the control client listens: its B mark is in the stream
        for number in range(args.rounds):
            for name, case in cases.items():
                samples[name].append(case())
                if args.busy:
                    bench.libtmux_case()
            if number % 50 == 0:
                pane.run("clear")
        floor = statistics.median(next(iter(samples.values())))
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"{name:<50} {median * 1e3:6.3f} ms {median / floor:5.2f}x")
        print(f"({args.rounds} rounds{', libtmux between contenders' if args.busy else ''}; medians)")
    finally:
        bench.close()


if __name__ == "__main__":
    main()
