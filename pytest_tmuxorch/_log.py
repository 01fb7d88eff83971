"""Debug logging that costs the console script nothing.

Importing :mod:`logging` takes several milliseconds, a large share of the script's start-up.
Nobody can have configured a handler without importing :mod:`logging`, so until some code has
imported it (pytest does), a message has nowhere to go and is dropped for free; from then on it
goes to the named standard logger as usual.  Every module of the package logs through this.
"""

from __future__ import annotations

import sys


class Logger:
    """A stand-in for ``logging.getLogger(name)`` with ``debug`` and ``exception``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, message: str, *args: object) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.getLogger(self.name).debug(message, *args)

    def exception(self, message: str, *args: object) -> None:
        import logging

        logging.getLogger(self.name).exception(message, *args)


def get_logger(name: str) -> Logger:
    return Logger(name)
