"""A corpus with one file per kind of bad input, and the exact outcome expected for each.

Built into a temp folder at test time (pipes, broken links and large files do not belong in git).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 1_000_000
GOOD_HEAD = '---\ntitle: "ok"\nwebUrl: "https://hostile.example/{name}"\n'


@dataclass(frozen=True)
class Outcome:
    kind: str | None  # None: the file loads
    line: int | None = None
    col: int | None = None
    reason: str = ""  # exact reason, or "" to skip the check


def _bomb() -> bytes:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return ("---\n" + "\n".join(lines) + "\n---\n").encode()


def build_hostile_corpus(folder: Path, marker: Path) -> dict[str, Outcome]:
    """Write every case into ``folder``; ``marker`` must never be created (code execution)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "bom_ok.txt": b"\xef\xbb\xbf" + GOOD_HEAD.format(name="bom").encode() + b"---\n",
        "crlf_ok.md": GOOD_HEAD.format(name="crlf").replace("\n", "\r\n").encode() + b"---\r\n",
        "latin1.txt": '---\ntitle: "Caf\u00e9"\n---\n'.encode("latin-1"),
        "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "empty.txt": b"",
        "blank.md": b"\n  \n",
        "no_front_matter.md": b"# Just markdown\n\nNo front matter here.\n",
        "unclosed.txt": b'---\ntitle: "never closed"\nwebUrl: "https://hostile.example/u"\n',
        "list_front_matter.txt": b"---\n- one\n- two\n---\n",
        "scalar_front_matter.txt": b"---\njust a sentence\n---\n",
        "empty_front_matter.txt": b"---\n---\nbody only\n",
        "yaml_syntax.txt": b'---\ntitle: "broken\nwebUrl: x\n---\n',
        "tab_indent.txt": b"---\nprovider:\n\tname: Tabs\n---\n",
        "non_text_key.txt": b"---\nwebUrl: https://hostile.example/k\n2021: year\n---\n",
        "duplicate_key.txt": b"---\nwebUrl: https://hostile.example/a\nwebUrl: https://hostile.example/b\n---\n",
        "deep.txt": b"---\nx: " + b"[" * 200 + b"]" * 200 + b"\n---\n",
        # 12,000 levels of block list in 24 KB: overflowed yaml-rs's stack (a segfault)
        "deep_list.txt": b"---\nwebUrl: https://hostile.example/dl\nx:\n"
        + b"- " * 12_000
        + b"end\n---\n",
        "deep_indented.txt": b"---\nx:\n"
        + b"".join(b"  " * level + b"-\n" for level in range(1, 600))
        + b"---\n",
        "deep_flow.txt": b"---\nx: " + b"[" * 12_000 + b"]" * 12_000 + b"\n---\n",
        "bomb.txt": _bomb(),
        "recursive.txt": b"---\nwebUrl: https://hostile.example/r\nx: &x [*x]\n---\n",
        "python_tag.txt": (
            f"---\nwebUrl: https://hostile.example/p\nx: !!python/object/apply:os.system "
            f'["touch {marker}"]\n---\n'
        ).encode(),
        "python_name.txt": b"---\nx: !!python/name:os.system\n---\n",
        "custom_tag.txt": b"---\nx: !include /etc/passwd\n---\n",
        "bad_date.txt": b"---\nwebUrl: https://hostile.example/d\npublishedDateTime: 2021-02-30\n---\n",
        "oversized.txt": GOOD_HEAD.format(name="big").encode() + b"---\n" + b"x" * MAX_FILE_BYTES,
        "huge_list.txt": b"---\nwebUrl: https://hostile.example/h\ntopics:\n"
        + b"  - t\n" * 120_000
        + b"---\n",
        "huge_int.txt": b"---\nwebUrl: https://hostile.example/i\nquality: "
        + b"9" * 5_000
        + b"\n---\n",
        # 23:30 at -05:00 on the last day of year 9999 is past year 9999 in UTC: NULL + warning
        "overflow_ts_ok.md": b"---\nwebUrl: https://hostile.example/ts\n"
        b"publishedDateTime: 9999-12-31T23:30:00-05:00\n---\n",
        "no_url.md": b'---\ntitle: "no url"\nquality: 50\n---\n',
        "url_is_a_list.md": b"---\nwebUrl: [a, b]\n---\n",
        "wrong_types_ok.md": (
            b"---\nwebUrl: https://hostile.example/w\ntitle: 12\nquality: high\nheat: 1e400\n"
            b"published: maybe\npublishedDateTime: soon\nprovider: Plain Name\ntopics: [null, 3, [x]]\n"
            b"images: {url: x}\nrelated: [7, {title: no url}]\nextra_nan: .nan\nbinary: !!binary aGk=\n---\n"
        ),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "pipe.txt")
    os.symlink(folder / "missing-target.md", folder / "dangling.md")
    # Links out of the source: never read (issue 21, item 7).
    os.symlink("/etc/passwd", folder / "passwd_link.md")
    outside = marker.parent / "outside" / "article.md"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text(GOOD_HEAD.format(name="outside") + "---\n")
    os.symlink(outside, folder / "outside_article.md")
    (folder / "notes.json").write_text("{}")  # not an article: ignored

    yaml_prefix = "could not parse front matter: "
    return {
        "bom_ok.txt": Outcome(None),
        "passwd_link.md": Outcome(
            "outside_source", reason="a symbolic link to /etc/passwd, outside the sources: not read"
        ),
        "outside_article.md": Outcome("outside_source"),
        "crlf_ok.md": Outcome(None),
        "wrong_types_ok.md": Outcome(None),
        "overflow_ts_ok.md": Outcome(None),
        "huge_int.txt": Outcome(
            "yaml_value",
            3,
            10,
            yaml_prefix + "integer of 5000 digits is too long to be a number (key 'quality')",
        ),
        "latin1.txt": Outcome(
            "not_utf8", 2, 12, "file is not valid UTF-8 (byte 0xe9); save it as UTF-8"
        ),
        "binary.txt": Outcome("binary", 3, 1, "file looks binary (contains NUL bytes)"),
        "empty.txt": Outcome("empty_file", 1, 1, "file is empty"),
        "blank.md": Outcome("empty_file", 1, 1, "file is empty"),
        "no_front_matter.md": Outcome(
            "no_front_matter",
            1,
            1,
            "no front matter: the first line must be '---' (YAML), '+++' (TOML) or start with '{' (JSON)",
        ),
        "unclosed.txt": Outcome(
            "unclosed_front_matter",
            3,
            1,
            "front matter is not closed: no closing '---' or '...' line",
        ),
        "list_front_matter.txt": Outcome(
            "not_a_mapping", 2, 1, "front matter is a list, not a mapping of keys"
        ),
        "scalar_front_matter.txt": Outcome(
            "not_a_mapping", 2, 1, "front matter is a str, not a mapping of keys"
        ),
        "empty_front_matter.txt": Outcome("empty_front_matter", 2, 1, "front matter is empty"),
        "yaml_syntax.txt": Outcome(
            "yaml_syntax",
            2,
            8,
            yaml_prefix + "found unexpected end of stream at line 4, column 1, "
            "inside the quoted text opened here",
        ),
        "tab_indent.txt": Outcome(
            "yaml_syntax",
            3,
            1,
            yaml_prefix
            + "found character that cannot start any token (a tab: YAML is indented with spaces)",
        ),
        "non_text_key.txt": Outcome(
            "non_text_key", 3, 1, yaml_prefix + "found a key that is not text: 2021 (quote it)"
        ),
        "duplicate_key.txt": Outcome(
            "duplicate_key", 3, 1, yaml_prefix + "found duplicate key 'webUrl'"
        ),
        "deep.txt": Outcome("too_deep", 2, 53, yaml_prefix + "nesting is deeper than 50 levels"),
        "deep_list.txt": Outcome(
            "too_deep", 4, 99, yaml_prefix + "nesting is deeper than 50 levels"
        ),
        "deep_indented.txt": Outcome(
            "too_deep", 52, 101, yaml_prefix + "nesting is deeper than 50 levels"
        ),
        # libyaml stops itself at 1,000 levels of flow (its scanner reads ahead): it says where
        "deep_flow.txt": Outcome(
            "too_deep", 2, 1003, yaml_prefix + "nesting is deeper than 50 levels"
        ),
        "bomb.txt": Outcome(
            "too_large",
            6,
            4,
            yaml_prefix
            + "front matter has more than 100000 values once aliases are expanded (a huge list, or an alias bomb)",
        ),
        "recursive.txt": Outcome(
            "recursive_alias", 3, 4, yaml_prefix + "found an alias that refers to itself"
        ),
        "python_tag.txt": Outcome(
            "yaml_tag",
            3,
            4,
            yaml_prefix
            + "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
        "python_name.txt": Outcome(
            "yaml_tag",
            2,
            4,
            yaml_prefix
            + "could not determine a constructor for the tag 'tag:yaml.org,2002:python/name:os.system'",
        ),
        "custom_tag.txt": Outcome(
            "yaml_tag",
            2,
            4,
            yaml_prefix + "could not determine a constructor for the tag '!include'",
        ),
        "bad_date.txt": Outcome(
            "yaml_value", 3, 20, yaml_prefix + "day is out of range for month in '2021-02-30'"
        ),
        "oversized.txt": Outcome(
            "too_large",
            None,
            None,
            f"file is larger than the limit of {MAX_FILE_BYTES} bytes (raise it with --max-file-bytes or NEWSFLOW_MAX_FILE_BYTES)",
        ),
        "huge_list.txt": Outcome(
            "too_large",
            4,
            3,
            yaml_prefix
            + "front matter has more than 100000 values once aliases are expanded (a huge list, or an alias bomb)",
        ),
        "no_url.md": Outcome(
            "no_url",
            None,
            None,
            "no webUrl or originalUrl: an article needs a URL to be identified",
        ),
        "url_is_a_list.md": Outcome(
            "no_url",
            None,
            None,
            "no webUrl or originalUrl: an article needs a URL to be identified",
        ),
        "pipe.txt": Outcome(
            "not_a_file", None, None, "not a regular file (a pipe, device or folder)"
        ),
        "dangling.md": Outcome(
            "unreadable", None, None, "could not read file: No such file or directory"
        ),
    }
