"""Discovery on real folders: links stay inside the sources, a bad folder is refused, not fatal."""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from flows.extract.discover import discover
from tests.conftest import REPO


def test_links_out_of_the_source_are_refused_unread_and_links_inside_work(tmp_path: Path) -> None:
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    (src / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (src / "a.md").write_text("a")
    (src / "sub" / "b.md").write_text("b")
    (elsewhere / "c.md").write_text("c")
    (src / "notes.txt.orig").write_text("n")  # another suffix: not listed itself
    (src / ".drafts").mkdir()
    (src / ".drafts" / "d.md").write_text("d")  # hidden: not listed itself
    os.symlink(src / "a.md", src / "inside.md")  # a.md is listed: not read twice, ignored
    os.symlink(src / "notes.txt.orig", src / "notes.md")  # only this path reads it: listed
    os.symlink(src / ".drafts" / "d.md", src / "draft.md")  # likewise
    os.symlink(src / "sub", src / "inside_folder")  # a folder inside: not followed, ignored
    os.symlink(src, src / "sub" / "loop")  # a loop: not followed either
    os.symlink("/etc/passwd", src / "passwd.md")
    os.symlink(elsewhere / "c.md", src / "outside.md")
    os.symlink(elsewhere, src / "outside_folder")
    os.symlink(src / "missing.md", src / "dangling.md")  # inside, dangling: listed as before
    found = discover([src])
    assert found.paths == [
        str(src / n) for n in ("a.md", "dangling.md", "draft.md", "notes.md", "sub/b.md")
    ]
    assert found.ignored == 5  # notes.txt.orig, .drafts/d.md and the three links below
    folder = "a symbolic link to the folder {}, inside the sources: not followed " \
        "(its files are read under their own path)"  # fmt: skip
    assert found.ignored_links == [
        (str(src / "inside.md"),
         f"a symbolic link to {src / 'a.md'}, which is read under its own path: not read twice"),
        (str(src / "inside_folder"), folder.format(src / "sub")),
        (str(src / "sub" / "loop"), folder.format(src)),
    ]  # fmt: skip
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
    # ... and its target is read there, under its own path: the link is not read twice
    assert str(elsewhere / "c.md") in both.paths and str(src / "outside.md") not in both.paths
    assert (
        str(src / "outside.md"),
        f"a symbolic link to {elsewhere / 'c.md'}, which is read under its own path: "
        "not read twice",
    ) in both.ignored_links


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


SCRIPT = """
import json, sys
from flows.extract.discover import discover
found = discover([sys.argv[1]])
print(json.dumps({"paths": found.paths, "refused": found.refused}))
"""


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_an_unreadable_folder_is_refused_for_an_unprivileged_user() -> None:
    """chmod 000 does not stop root, so discovery runs as ``nobody`` (setpriv) in a subprocess."""
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        base.chmod(0o755)
        src = base / "src"
        (src / "locked").mkdir(parents=True)
        (src / "good.md").write_text("ok")
        (src / "locked" / "secret.md").write_text("secret")
        (src / "locked").chmod(0o000)
        proc = subprocess.run(
            ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
             sys.executable, "-c", SCRIPT, str(src)],
            env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=base,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        (base / "src" / "locked").chmod(0o755)
        shutil.rmtree(base)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert json.loads(proc.stdout) == {
        "paths": [str(src / "good.md")],
        "refused": [[
            str(src / "locked"), "unreadable_folder",
            "cannot list this folder (Permission denied, errno 13); its files were not read",
        ]],
    }  # fmt: skip
