"""SIGHUP while the config reloader is not listening (start-up, shutdown): noted, not fatal.

Python leaves SIGHUP at the system default, which ends the process: a reload asked for while the
service starts (a ConfigMap update, `kill -HUP` from a deploy script) would kill it. From
`hold_sighup()` on, a SIGHUP is only noted; the reloader, once it takes the signal over, takes
the note too (`take_sighup()`) and reloads.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class _Note:
    pending = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True


_NOTE = _Note()


def hold_sighup() -> None:
    """From now on a SIGHUP only notes a reload request (signals reach the main thread only;
    elsewhere this does nothing)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, _NOTE)


def take_sighup() -> bool:
    """Whether a SIGHUP was noted since the last call."""
    pending, _NOTE.pending = _NOTE.pending, False
    return pending
