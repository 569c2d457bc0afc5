"""How ``newsflow run`` shows a run's progress on stderr: a live bar on a terminal (files parsed
and loaded, rate, ETA), one line per load group otherwise, nothing with ``--quiet``."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from tqdm import tqdm

from flows.ingest import Progress

# 80 columns: ` 40%|####      | 8000/20000 parsed, 6,000 loaded [00:06<00:09, 1312.50 files/s]`
BAR_FORMAT = (
    "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} parsed{postfix} loaded "
    "[{elapsed}<{remaining}, {rate_fmt}]"
)


class ProgressBar:
    """A tqdm bar on ``stream``: parsed files move the bar (and give the rate and ETA), each
    merged load group updates the loaded count. Drawn at the first batch; :meth:`close` ends
    it (also after a failed run)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: tqdm | None = None
        self.started: float | None = None

    def __call__(self, progress: Progress) -> None:
        if progress.event == "started":
            # Drawn from the first batch on (under Prefect, stage extract logs its end in
            # between), but timed from the workers' start.
            self.started = time.time() - progress.seconds
            return
        if self.bar is None:
            size = shutil.get_terminal_size()
            self.bar = tqdm(
                total=progress.total,
                postfix=f"{progress.loaded:,}",
                unit=" files",
                bar_format=BAR_FORMAT,
                file=self.stream,
                # A pseudo-terminal may report a 0 x 0 size (tqdm would then hide the bar):
                # shutil falls back to 80 x 24.
                ncols=size.columns,
                nrows=size.lines,
                leave=True,
            )
            if self.started is not None:
                self.bar.start_t = self.started
        self.bar.set_postfix_str(f"{progress.loaded:,}", refresh=False)
        self.bar.update(progress.parsed - self.bar.n)  # refreshes at most every 0.1 s
        if progress.event != "parsed":
            self.bar.refresh()
        if progress.event == "done":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ProgressLines:
    """One line per merged load group on ``stream``: ``loaded 8,000 of 20,000 files (40%) in
    6.1 s`` (logs and pipes have no use for a bar)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, progress: Progress) -> None:
        if progress.event == "loaded":
            print(progress.line(), file=self.stream, flush=True)

    def close(self) -> None:
        pass


def reporter(quiet: bool, stream: TextIO | None = None) -> ProgressBar | ProgressLines | None:
    """The progress display for ``newsflow run``: none when ``quiet``, a bar when ``stream``
    (stderr by default) is a terminal, lines otherwise."""
    if quiet:
        return None
    stream = stream if stream is not None else sys.stderr
    return ProgressBar(stream) if stream.isatty() else ProgressLines(stream)
