"""Text writers, the only copies: an aligned text table, a Markdown table and CSV.

Cells arrive as text (each caller decides how a value reads and what it escapes); these functions
only lay them out. A leaf module: every layer may import it (models, ingest, analysis, cli).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Sequence
from typing import Any


def aligned(
    rows: Sequence[Sequence[str]], right: Collection[int] = (), rule: bool = False
) -> list[str]:
    """Lines of columns padded to their widest cell, two spaces apart, trailing blanks cut.

    ``rows[0]`` is the header; columns in ``right`` are right-aligned; ``rule`` puts a line of
    dashes under the header.
    """
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    head = [rows[0], ["-" * width for width in widths]] if rule else [rows[0]]
    return [line(cells) for cells in [*head, *rows[1:]]]


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], right: Collection[int] = ()
) -> list[str]:
    """Lines of a Markdown table; cells are written as given (``str``), columns in ``right``
    right-aligned (``---:``)."""
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = [_markdown_row(header), "|" + "|".join(rule) + "|"]
    return lines + [_markdown_row(row) for row in rows]


def _markdown_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """CSV with a header line and ``\\n`` line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
