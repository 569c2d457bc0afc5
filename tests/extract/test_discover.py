"""Discovery on real folders: links stay inside the sources, a bad folder is refused, not fatal."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from flows.extract.discover import discover


def test_links_out_of_the_source_are_refused_unread_and_links_inside_work(tmp_path: Path) -> None:
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    (src / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (src / "a.md").write_text("a")
    (src / "sub" / "b.md").write_text("b")
    (elsewhere / "c.md").write_text("c")
    os.symlink(src / "a.md", src / "inside.md")  # a file inside: listed under its own path
    os.symlink(src / "sub", src / "inside_folder")  # a folder inside: not followed, ignored
    os.symlink("/etc/passwd", src / "passwd.md")
    os.symlink(elsewhere / "c.md", src / "outside.md")
    os.symlink(elsewhere, src / "outside_folder")
    os.symlink(src / "missing.md", src / "dangling.md")  # inside, dangling: listed as before
    found = discover([src])
    assert found.paths == [str(src / n) for n in ("a.md", "dangling.md", "inside.md", "sub/b.md")]
    assert found.ignored == 1
    reason = "a symbolic link to {}, outside the sources: not read"
    assert found.refused == [
        (str(src / "outside.md"), "outside_source", reason.format(elsewhere / "c.md")),
        (str(src / "outside_folder"), "outside_source", reason.format(elsewhere)),
        (str(src / "passwd.md"), "outside_source", reason.format("/etc/passwd")),
    ]
    # A link into another source is inside the sources.
    both = discover([src, elsewhere])
    assert both.refused == [
        (str(src / "passwd.md"), "outside_source", reason.format("/etc/passwd"))
    ]
    assert str(src / "outside.md") in both.paths


def test_a_folder_past_path_max_is_refused_and_the_rest_of_the_source_loads(
    tmp_path: Path,
) -> None:
    """A real ENAMETOOLONG: folders made one by one with relative mkdir and chdir until the
    absolute path is longer than PATH_MAX (4,096), which scandir of that path cannot open."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.md").write_text("ok")
    here = os.getcwd()
    name = "d" * 200
    try:
        os.chdir(src)
        depth = 0
        while len(str(src)) + depth * (len(name) + 1) <= 4200:
            os.mkdir(name)
            os.chdir(name)
            depth += 1
        with open("deep.md", "w") as handle:
            handle.write("never read")
    finally:
        os.chdir(here)
    found = discover([src])
    assert found.paths == [str(src / "good.md")]
    [(path, kind, reason)] = found.refused
    assert kind == "unreadable_folder"
    assert len(path) > 4096 and path.startswith(str(src / name))
    assert reason == (
        f"cannot list this folder ({os.strerror(errno.ENAMETOOLONG)}, errno 36); "
        "its files were not read"
    )
