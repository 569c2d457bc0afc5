"""How a path is shown to people, the only copy: relative when it lies inside the folder."""

from __future__ import annotations

from pathlib import Path


def shown(path: Path | str, root: Path | None = None) -> str:
    """``path`` relative to ``root`` (default: the current folder) when inside it, else as is
    (a ``str`` exactly as given)."""
    try:
        return Path(path).relative_to(root if root is not None else Path.cwd()).as_posix()
    except ValueError:
        return path if isinstance(path, str) else path.as_posix()
