"""flows/text.py and flows/paths.py: the one text writer and the one path shortener."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.paths import shown
from flows.text import aligned, csv_text, markdown_table


def test_aligned_pads_columns_right_aligns_numbers_and_cuts_trailing_blanks() -> None:
    rows = [["name", "rows", "note"], ["article", "12", ""], ["provider_volume", "3", "x"]]
    assert aligned(rows, right={1}) == [
        "name             rows  note",
        "article            12",
        "provider_volume     3  x",
    ]
    assert aligned(rows[:2], rule=True) == [
        "name     rows  note",
        "-------  ----  ----",
        "article  12",
    ]
    assert aligned([]) == []


def test_markdown_table_writes_cells_as_given() -> None:
    assert markdown_table(["stage", "seconds"], [["load", "1.500"], ["models", 2]], right={1}) == [
        "| stage | seconds |",
        "|---|---:|",
        "| load | 1.500 |",
        "| models | 2 |",
    ]


def test_csv_text_quotes_only_what_needs_it() -> None:
    assert csv_text(["a", "b"], [["x,y", 'say "hi"'], ["", "z"]]) == (
        'a,b\n"x,y","say ""hi"""\n,z\n'
    )


def test_shown_is_relative_inside_the_folder_and_unchanged_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "a" / "b.txt") == "a/b.txt"
    assert shown(str(tmp_path / "a")) == "a"
    assert shown("/elsewhere//x.txt") == "/elsewhere//x.txt"  # a str comes back as given
    assert shown(Path("/elsewhere/x.txt")) == "/elsewhere/x.txt"
    assert shown(tmp_path / "a" / "b.txt", root=tmp_path / "a") == "b.txt"
