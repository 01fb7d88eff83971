#!/usr/bin/env python3
"""A tiny interactive to-do list: the kind of program you test by typing into it."""

from __future__ import annotations

import sys


def main() -> int:
    items: list[list[object]] = []
    print("todo 1.0 -- commands: add TEXT, done N, list, quit")
    while True:
        try:
            line = input("todo> ").strip()
        except EOFError:
            print("\nbye (end of input)")
            return 0
        command, _, argument = line.partition(" ")
        if command == "add" and argument:
            items.append([argument, False])
            print(f"added #{len(items)}")
        elif command == "done" and argument.isdigit() and 1 <= int(argument) <= len(items):
            items[int(argument) - 1][1] = True
            print(f"done #{argument}")
        elif command == "list":
            for number, (text, done) in enumerate(items, 1):
                print(f"{number}. [{'x' if done else ' '}] {text}")
            print(f"{len(items)} item(s)")
        elif command == "quit":
            print("bye")
            return 0
        else:
            print(f"error: cannot {line!r}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
