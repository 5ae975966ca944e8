"""What the terminal sees besides a command's output: progress, a closed pipe, signals."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

REDRAW_S = 0.1  # a bar is redrawn at most this often: a terminal's redraw is not free
TICK_DELAY_S = 1.0  # a ticker stays silent for work that ends before this
TICK_EVERY_S = 1.0
BAR_WIDTH = 30
EXIT_SIGPIPE = 128 + 13  # what a shell reports for a command ended by a closed pipe


class Terminated(BaseException):
    """SIGTERM as an exception, so that the cleanup KeyboardInterrupt runs (a half-written
    temporary file removed) runs for it too; BaseException, so no `except Exception` eats it."""


def on_terminal(stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


class Bar:
    """A progress bar on stderr, `done/total unit`, redrawn at most every REDRAW_S; call it
    with (done, total), then close() to end its line."""

    def __init__(self, unit: str, stream: TextIO | None = None) -> None:
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.start: float | None = None  # the first call: a bar made early counts from its work
        self.last = 0.0
        self.open = False  # a line of ours is on screen without its newline

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start = now
        if done < total and now - self.last < REDRAW_S:
            return
        self.last = now
        filled = int(BAR_WIDTH * min(done, total) / max(total, 1))
        rate = done / max(now - self.start, 1e-9)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:,}/{total:,} {self.unit}, "
            f"{rate:,.0f}/s"
        )
        self.open = True
        if done >= total:
            self.close()
        self.stream.flush()

    def close(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


def progress_bar(unit: str, enabled: bool = True) -> Bar | None:
    """A Bar when stderr is a terminal and `enabled` (not with --json), else None."""
    return Bar(unit) if enabled and on_terminal() else None


class Ticker:
    """Elapsed time for work that reports nothing while it runs: `label… 12 s`, redrawn each
    second once the work has taken TICK_DELAY_S (quick work shows nothing)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()
        self.open = False

    def __call__(self, elapsed: float | None = None) -> None:
        if elapsed is None:
            elapsed = time.perf_counter() - self.start
        if elapsed < TICK_DELAY_S:
            return
        self.stream.write(f"\r{self.label}… {elapsed:.0f} s")
        self.stream.flush()
        self.open = True

    def close(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


def ticker(label: str, enabled: bool = True) -> Ticker | None:
    """A Ticker when stderr is a terminal and `enabled`, else None."""
    return Ticker(label) if enabled and on_terminal() else None


@contextlib.contextmanager
def ticking(label: str, enabled: bool = True) -> Iterator[None]:
    """A Ticker redrawn by a thread of its own around work that has no hook to call one
    (NumPy training, recomputing a workbook); nothing off a terminal."""
    tick = ticker(label, enabled)
    if tick is None:
        yield
        return
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(TICK_EVERY_S):
            tick()

    thread = threading.Thread(target=run, name="xlnet-ticker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        tick.close()


@contextlib.contextmanager
def closing(*shown: Bar | Ticker | None) -> Iterator[None]:
    """End the lines of bars and tickers however the work ends, so an error message starts
    on a line of its own."""
    try:
        yield
    finally:
        for s in shown:
            if s is not None:
                s.close()


def quiet_broken_pipe() -> int:
    """After a reader closed our stdout (`| head`): point stdout at /dev/null, so that the
    interpreter's last flush of what is still buffered does not complain, and end quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is no real file (a test's capture)
        pass
    return EXIT_SIGPIPE


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises Terminated while the command runs, as SIGINT raises KeyboardInterrupt,
    so the same cleanup runs for both; the previous handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler; a caller in a thread keeps its own
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated

    previous: Callable | int | None = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
