"""Source profiles: a dialect's front matter (Hugo, Jekyll, a blog) -> the contract's keys.

A profile is a small declarative file (TOML, or YAML read with the safe loader), no code; the
shipped ones live in ``profiles/`` at the top of the repository (``default``, ``hugo``,
``jekyll``), and a user passes a path to their own. :meth:`Profile.apply` rewrites one parsed
document into the shape :func:`flows.normalize.document.normalize_document` reads:

- ``[keys]``: contract key -> the source keys (dot paths) tried in order; the first present
  wins. ``topics`` takes every listed key that is present, merged in order.
- ``url_keys``: keys holding the page's URL (absolute, or relative to ``--base-url``); with
  none, the URL is derived from the file's path by ``derive_url`` (``hugo`` or ``jekyll``).
- ``draft_key``: ``draft: true`` -> ``published: false``.
- ``date_from_filename``: Jekyll's ``YYYY-MM-DD-slug`` gives the date when no key does.
- ``not_articles``: file names that are list pages, not articles (Hugo's ``_index.md``), and
  ``require_date``: a page with no date is not an article (an about page). Both are rejected
  with kind ``not_an_article`` and the reason.
- The provider, when a document has none: ``site_name`` (else the base URL's host) and the base
  URL's host as its domain.
- ``permalink`` (Jekyll's style or pattern), ``topic_separator``, ``fold_key_case`` (Hugo reads
  keys in any case), ``lang_key``/``default_lang`` (translations under ``/<lang>/``).
- ``duplicate_keys``: ``reject`` (the default: kind ``duplicate_key``) or ``last`` (the last
  value wins, with a warning, as Jekyll's YAML reader does).

docs/profiles.md documents every setting. A ``newsflow.toml`` in a source folder may choose the
profile and base URL (:func:`resolve_profile`); the flags win.

Keys the profile does not map stay in ``extra`` as they are. The default profile maps nothing:
documents load exactly as the news-feed contract says. ``ledger_version`` is what ``etl.file``
records per file: the contract version, plus ``+name@version:hash`` of a profile, so a changed
profile file reprocesses its files.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import fnmatch
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import yaml

from flows.normalize.contract import CONTRACT_VERSION
from flows.records import FrontMatter, Rejection

PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"
STAGE = "normalize"
URL_HINT_KEYS = ("url", "permalink", "slug", "link", "canonical", "canonicalURL", "path")
# Jekyll's post name: one- or two-digit month and day are allowed, as Jekyll allows them
# (stray blanks before the date, as a file name may have, are ignored).
_JEKYLL_NAME = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})-(.+)")
# A date in a URL or path: .../2024/03/21/... (Zola's and many blogs' permalinks).
_URL_DATE = re.compile(r"(?:^|/)(\d{4})/(\d{1,2})/(\d{1,2})(?:/|$)")
# Date text as Hugo, Jekyll and blogs write it: `2024-03-21 10:00:00 +0900`, a one-digit hour,
# `2024/03/21`, `2024-3-5`, a `UTC` or `Z` suffix, an offset with or without a colon.
_SPACE_OFFSET = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?"
    r"\s*(Z|UTC|GMT|UT|[A-Z]{3,4}|[+-]\d{1,2}(?::?\d{2})?)?"
    r"(?:\s+[A-Z]{2,5})?$",  # Go's form names the zone after the offset: +0000 UTC
    re.IGNORECASE,
)
# Zone abbreviations a date may end with instead of an offset (unambiguous ones only).
_ZONES = {"Z": 0, "UTC": 0, "GMT": 0, "UT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
          "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "EET": 2,
          "EEST": 3, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11}  # fmt: skip
# Dates written in words: `March 21, 2024`, `21 Mar 2024` (English month names).
_WORD_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y")
_PLACEHOLDER = re.compile(r":(?:year|month|day|title|slug|categories|output_ext|i_month|i_day|"
                          r"short_year|y_day)\b")  # fmt: skip
JEKYLL_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
_LANG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")
_ALLOWED = {
    "name", "version", "description", "keys", "url_keys", "derive_url", "permalink",
    "draft_key", "date_from_filename", "not_articles", "require_date", "site_name",
    "topic_separator", "fold_key_case", "lang_key", "default_lang", "date_from_url",
    "content_dirs", "also_read", "duplicate_keys",
}  # fmt: skip
_CONTRACT_TARGETS = {
    "title", "excerpt", "category", "type", "publishedDateTime", "topics", "images",
    "author", "provider", "quality", "heat", "published",
}  # fmt: skip


class ProfileError(ValueError):
    """A profile that cannot be used (unknown name, unreadable file, unknown keys)."""


@dataclass(frozen=True)
class Profile:
    """One loaded profile, plus the run's base URL and source roots (see the module doc)."""

    name: str
    version: str
    digest: str
    text: str
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    url_keys: tuple[str, ...] = ()
    derive_url: str | None = None
    permalink: str | None = None
    draft_key: str | None = None
    date_from_filename: bool = False
    date_from_url: bool = False
    not_articles: tuple[str, ...] = ()
    require_date: bool = False
    site_name: str | None = None
    topic_separator: str = ","
    fold_key_case: bool = False
    lang_key: str | None = None
    content_dirs: tuple[str, ...] = ("content",)
    also_read: tuple[str, ...] = ()
    default_lang: str | None = None
    duplicate_keys: str = "reject"
    base_url: str | None = None
    roots: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return not (self.keys or self.url_keys or self.derive_url or self.draft_key
                    or self.not_articles or self.require_date or self.date_from_filename
                    or self.site_name or self.date_from_url or self.also_read)  # fmt: skip

    def reads_also(self, path: str) -> bool:
        """Whether discovery lists this file although its suffix is not an article's:
        ``also_read`` patterns match the file name (``*.mdx``), or, written ``folder/pattern``
        (``_posts/*.html``), a file with that folder among the ones above it."""
        folders, _, name = path.replace(os.sep, "/").rpartition("/")
        above = folders.split("/")
        for pattern in self.also_read:
            folder, _, wanted = pattern.rpartition("/")
            if fnmatch.fnmatch(name.lower(), wanted.lower()) and (not folder or folder in above):
                return True
        return False

    def ledger_version(self) -> str:
        """What ``etl.file.contract_version`` records: the contract's version, plus this
        profile's name, version and content hash unless it is the default."""
        if self.is_default and self.name == "default":
            return CONTRACT_VERSION
        return f"{CONTRACT_VERSION}+{self.name}@{self.version}:{self.digest}"

    def for_run(self, base_url: str | None, roots: tuple[str, ...]) -> Profile:
        """This profile for one run: its base URL (with a trailing slash) and source roots."""
        base = base_url.strip() if base_url else None
        if base and not base.endswith("/"):
            base += "/"
        return replace(self, base_url=base, roots=tuple(os.path.abspath(r) for r in roots))

    # -- applying ----------------------------------------------------------------------------

    def apply(self, doc: FrontMatter) -> FrontMatter | Rejection:
        """The document with its keys mapped to the contract's, or a ``not_an_article`` or
        ``no_url`` rejection."""
        if self.is_default:
            return doc
        rel = self._relative(doc.path)
        name = rel.rsplit("/", 1)[-1]
        for pattern in self.not_articles:
            if _matches(name, pattern):
                reason = f"{name} is a list page, not an article (profile {self.name})"
                return self._reject(doc, "not_an_article", reason)
        data = self._folded(doc.data) if self.fold_key_case else doc.data
        consumed: set[str] = set()
        out: dict[str, Any] = {}
        for target, sources in self.keys.items():
            present = [(s, v) for s in sources
                       if (v := _get(data, s)) is not _MISSING]  # fmt: skip
            if target == "publishedDateTime":  # `published: false` is a flag, not a date;
                present = [(s, v) for s, v in present  # `date: ""` is no date: try the next
                           if not isinstance(v, bool) and v != ""]  # fmt: skip
            if not present:
                continue
            consumed.update(s.split(".", 1)[0] for s, _ in present if "." not in s)
            if target == "topics":
                out[target] = _merged_topics([v for _, v in present], self.topic_separator)
            elif target == "images":
                out[target] = _images(present[0][1])
            elif target == "publishedDateTime":
                out[target] = _date(present[0][1])
            else:
                out[target] = present[0][1]
        # A dated name: the file's (2024-03-21-slug.md), or a bundle's folder's
        # (2024-03-21-slug/index.md), as Hugo's ":filename" and Zola read it.
        folders = rel.split("/")[:-1]
        bundle = _stem_and_lang(name)[0] == "index" and folders
        jekyll = _JEKYLL_NAME.match(folders[-1] if bundle else _stem(name))
        if "publishedDateTime" not in out and self.date_from_filename and jekyll:
            named = _valid_date(*jekyll.group(1, 2, 3))
            if named is None:
                dated = (folders[-1] if bundle else name).strip()
                reason = (f"{dated}: {'-'.join(jekyll.group(1, 2, 3))} is not a date "
                          f"and no date key is set (profile {self.name})")  # fmt: skip
                return self._reject(doc, "not_an_article", reason)
            out["publishedDateTime"] = named
        if "publishedDateTime" not in out and self.date_from_url:
            found = self._url_date(data, rel)
            if found is not None:
                out["publishedDateTime"] = found
        if self.require_date and out.get("publishedDateTime") in (None, ""):
            keys = " | ".join(self.keys.get("publishedDateTime", ()))
            also = [what for flag, what in ((self.date_from_filename, "file name"),
                                            (self.date_from_url, "URL")) if flag]  # fmt: skip
            keys += "".join(f", {what}" for what in also)
            reason = f"page has no date ({keys}): not a post (profile {self.name})"
            return self._reject(doc, "not_an_article", reason)
        if self.draft_key and self.draft_key in data:
            consumed.add(self.draft_key)
            draft = data[self.draft_key]
            if isinstance(draft, str) and draft.strip().lower() in ("true", "false"):
                draft = draft.strip().lower() == "true"
            out["published"] = not draft if isinstance(draft, bool) else draft
        url = self._url(doc, data, rel, out, consumed)
        if isinstance(url, Rejection):
            return url
        # Keys the profile mapped are consumed; every other key stays, in extra.
        rest = {k: v for k, v in data.items() if k not in consumed and k not in out}
        if isinstance(out.get("images"), list):
            out["images"] = [
                {**image, "url": urljoin(url, image["url"])}
                if isinstance(image, dict)
                and isinstance(image.get("url"), str)
                and "://" not in image["url"]
                else image
                for image in out["images"]
            ]
        mapped = {**rest, **out, "webUrl": url}
        if mapped.get("provider") is None and self.base_url:
            domain = urlsplit(self.base_url).hostname
            mapped["provider"] = {"name": self.site_name or domain, "domain": domain}
        if mapped.get("title") in (None, ""):  # the file's name (a bundle's folder), when none
            stem = _stem_and_lang(name)[0]
            stem = jekyll.group(4) if jekyll and self.date_from_filename else stem
            folders = rel.split("/")[:-1]
            mapped["title"] = folders[-1] if stem in ("index", "_index") and folders else stem
        return FrontMatter(doc.path, doc.sha256, mapped, doc.body, doc.raw, doc.notes)

    def _url_date(self, data: dict[str, Any], rel: str) -> dt.date | None:
        """The date a URL key, or any URL-like key (``path = "2024/03/21/slug"``), or the
        file's path (``posts/2024/03/21/slug.md``) spells as ``YYYY/MM/DD``, when it is a real
        date."""
        keys = dict.fromkeys([*self.url_keys, *URL_HINT_KEYS])
        for value in [*(data.get(key) for key in keys), rel]:
            if isinstance(value, str):
                match = _URL_DATE.search(urlsplit(value.strip()).path)
                found = _valid_date(*match.groups()) if match else None
                if found is not None:
                    return found
        return None

    def _folded(self, data: dict[str, Any]) -> dict[str, Any]:
        """Hugo reads keys in any case (``Title``, ``Date``): a key the profile names, written
        in another case, is renamed to the profile's spelling (unless that spelling is there)."""
        wanted = {name.casefold(): name for name in self._names}
        renamed: dict[str, Any] = {}
        for key, value in data.items():
            spelling = wanted.get(key.casefold(), key) if isinstance(key, str) else key
            if spelling != key and spelling in data:
                spelling = key
            renamed[spelling if spelling not in renamed else key] = value
        return renamed

    @property
    def _names(self) -> set[str]:
        names = {s.split(".", 1)[0] for sources in self.keys.values() for s in sources}
        names.update(self.url_keys, ["slug", "webUrl", "originalUrl"])
        if self.draft_key:
            names.add(self.draft_key)
        return names

    def _url(
        self, doc: FrontMatter, data: dict[str, Any], rel: str, out: dict[str, Any],
        consumed: set[str],
    ) -> str | Rejection:  # fmt: skip
        for key in ("webUrl", "originalUrl"):
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key]
        for key in self.url_keys:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                consumed.add(key)
                value = value.strip()
                templated = "://" not in value and _PLACEHOLDER.search(value)
                if self.derive_url == "jekyll" and templated:
                    expanded = self._jekyll_path(rel, data, out, value, own=True)
                    value = expanded if expanded is not None else value
                return self._resolve(doc, self._with_lang(value, data), key)
        path = self._derived_path(rel, data, out)
        if path is None:
            reason = (
                f"no URL: none of {', '.join(self.url_keys)} and no rule derives one from "
                f"{rel} (profile {self.name})"
            )
            return self._reject(doc, "no_url", reason)
        return self._resolve(doc, self._with_lang(path, data), "path")

    def _with_lang(self, path: str, data: dict[str, Any]) -> str:
        """``/2024/01/x.html`` -> ``/ja/2024/01/x.html`` for a page whose ``lang_key`` says
        ``ja`` (not the ``default_lang``), so translations sharing a permalink stay apart."""
        lang = data.get(self.lang_key) if self.lang_key else None
        if not isinstance(lang, str) or "://" in path or not _LANG.fullmatch(lang.strip()):
            return path
        lang = lang.strip().lower()
        if lang == (self.default_lang or "").lower() or path.lstrip("/").startswith(f"{lang}/"):
            return path
        return f"/{lang}/{path.lstrip('/')}"

    def _resolve(self, doc: FrontMatter, value: str, key: str) -> str | Rejection:
        if "://" in value:
            return value
        if "{{" in value or "{%" in value:  # a template, not a URL
            return self._reject(doc, "no_url", f"{key}: {value!r:.60} is a template, not a URL")
        if not self.base_url:
            return self._reject(doc, "no_url", f"found {key}: {value:.80} — pass --base-url "
                                "(the site's address) to resolve it")  # fmt: skip
        # Site-relative: under the base URL's path too (https://example.org/blog/ + /a/).
        return urljoin(self.base_url, value.lstrip("/"))

    def _derived_path(self, rel: str, data: dict[str, Any], out: dict[str, Any]) -> str | None:
        parts = rel.split("/")
        stem, lang = _stem_and_lang(parts[-1])
        slug = data.get("slug") if isinstance(data.get("slug"), str) else None
        if self.derive_url == "hugo":
            # The site's root or a folder above it was the source: the URL starts below the
            # last content folder (Hugo's content/; a blog's pages/ too, when listed).
            last = max((i for i, p in enumerate(parts[:-1]) if p in self.content_dirs),
                       default=-1)  # fmt: skip
            parts = parts[last + 1 :]
            folders = parts[:-1]
            if stem == "index" and folders:  # a page bundle: the folder is the page
                stem = folders.pop()
            named = _JEKYLL_NAME.match(stem) if self.date_from_filename else None
            if named and _valid_date(*named.group(1, 2, 3)):  # 2024-03-21-spring.md: "spring"
                stem = named.group(4)
            leaf = _slugify(slug or stem)
            prefix = f"/{lang}" if lang else ""
            return prefix + "/" + "/".join([*(_slugify(f) for f in folders), leaf]) + "/"
        if self.derive_url == "jekyll":
            return self._jekyll_path(rel, data, out, self.permalink)
        return None

    def _jekyll_path(
        self,
        rel: str,
        data: dict[str, Any],
        out: dict[str, Any],
        pattern: str | None,
        own: bool = False,
    ) -> str | None:
        """Jekyll's permalink: a style (``date``, ``pretty``, ``ordinal``, ``none``) or a
        pattern of placeholders, for a post in ``_posts/`` (or any page, when the page's own
        permalink has placeholders). The date is the post's (its ``date`` key, else the file
        name's), as written; categories are the folders above ``_posts/`` and the
        ``categories``/``category`` key, lower-cased."""
        parts = rel.split("/")
        stem = _stem(parts[-1])
        match = _JEKYLL_NAME.match(stem)
        named = _valid_date(*match.group(1, 2, 3)) if match else None
        if "_posts" in parts and match and named is not None:
            year, month, day = f"{named.year:04d}", f"{named.month:02d}", f"{named.day:02d}"
            title = match.group(4)
            folders = parts[: parts.index("_posts")]
        elif own and pattern is not None:
            year = month = day = None
            title, folders = stem, []
        else:  # a page: /:path/:basename.html, an index page is its folder
            folders = [_slugify(p.removeprefix("_")) for p in parts[:-1]]  # _docs: collection
            if stem == "index":
                return "/" + "".join(f"{f}/" for f in folders)
            return "/" + "".join(f"{f}/" for f in folders) + quote(stem) + ".html"
        date = out.get("publishedDateTime")
        if isinstance(date, dt.date):
            year, month, day = f"{date.year:04d}", f"{date.month:02d}", f"{date.day:02d}"
        pattern = JEKYLL_STYLES.get(pattern or "date", pattern or "")
        if year is None and any(p in pattern for p in (":year", ":month", ":day", ":y_day")):
            return None
        seen: list[str] = []
        for c in [p for p in folders if p] + _categories(data):
            if c.lower() not in seen:
                seen.append(c.lower())
        slug = data.get("slug") if isinstance(data.get("slug"), str) else None
        values = {":categories": "/".join(quote(c) for c in seen), ":output_ext": ".html",
                  ":title": quote(slug or title), ":slug": _slugify(slug or title)}  # fmt: skip
        if year is not None and month is not None and day is not None:
            when = dt.date(int(year), int(month), int(day))
            values.update({":year": year, ":short_year": year[2:], ":month": month,
                           ":i_month": str(int(month)), ":day": day, ":i_day": str(int(day)),
                           ":y_day": f"{when.timetuple().tm_yday:03d}"})  # fmt: skip
        # Longest first: ':i_month' before ':month', ':short_year' before ':year'.
        path = pattern
        for placeholder in sorted(values, key=len, reverse=True):
            path = path.replace(placeholder, values[placeholder])
        return re.sub("/{2,}", "/", path)

    def _relative(self, path: str) -> str:
        best = ""
        for root in self.roots:
            if (path == root or path.startswith(root.rstrip("/") + "/")) and len(root) > len(best):
                best = root
        if best and path != best:
            return path[len(best.rstrip("/")) + 1 :]
        return path.rsplit("/", 1)[-1]

    def _reject(self, doc: FrontMatter, kind: str, reason: str) -> Rejection:
        return Rejection(doc.path, STAGE, reason, sha256=doc.sha256, kind=kind)


_MISSING: Any = object()


def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return _MISSING if value is None else value


def _valid_date(year: str, month: str, day: str) -> dt.date | None:
    """The date the three numbers spell, or None (``2020-11-31`` is no date)."""
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _stem_and_lang(name: str) -> tuple[str, str | None]:
    """``post.ja.md`` -> ("post", "ja"); ``post.md`` -> ("post", None)."""
    stem = _stem(name)
    base, dot, lang = stem.rpartition(".")
    if dot and re.fullmatch(r"[a-z]{2}(?:-[a-zA-Z]{2,4})?", lang):
        return base, lang
    return stem, None


def _slugify(text: str) -> str:
    return quote(text.strip().replace(" ", "-").lower(), safe="-_.~%")


def _categories(data: dict[str, Any]) -> list[str]:
    value = data.get("categories", data.get("category"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def _merged_topics(values: list[Any], separator: str) -> list[Any]:
    merged: list[Any] = []
    for value in values:
        if isinstance(value, str):
            if separator == "auto":  # commas when there are any, else blanks
                parts = value.split(",") if "," in value else value.split()
            else:
                parts = value.split() if separator == " " else value.split(separator)
            merged.extend(part for part in parts if part.strip())
        elif isinstance(value, list):
            merged.extend(value)
        else:
            merged.append(value)
    return merged


def _images(value: Any) -> Any:
    """An image as text, a list of texts or mappings with ``src``/``url`` -> [{url, ...}]."""
    items = value if isinstance(value, list) else [value]
    images: list[Any] = []
    for item in items:
        if isinstance(item, str):
            images.append({"url": item})
        elif isinstance(item, dict) and "url" not in item:
            src = item.get("src") or item.get("image") or item.get("path")
            images.append({"url": src, **{k: v for k, v in item.items()
                                          if k not in ("src", "image", "path")}})  # fmt: skip
        else:
            images.append(item)
    return images


def _date(value: Any) -> Any:
    """Date text in the forms Hugo, Jekyll and blogs accept (``2024-03-21 10:00:00 +0900``,
    a one-digit hour, ``2024/03/21``, ``UTC``, an e-mail date ``Thu, 21 Mar 2024 10:00:00
    +0000``, ``March 21, 2024``) -> the value YAML gives the ISO form (a date when there is
    no time); anything else unchanged (the contract then warns and stores NULL)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    match = _SPACE_OFFSET.match(text)
    if not match:
        return _worded_date(text, value)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    date = _valid_date(year, month, day)
    if date is None:
        return value
    if hour is None:
        return date if offset is None else value
    iso = f"{date.isoformat()}T{int(hour):02d}:{minute}:{second or '00'}{fraction or ''}"
    if offset and offset[0] not in "+-":  # a zone's name
        hours = _ZONES.get(offset.upper())
        if hours is None:
            return value
        iso += f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00"
    elif offset:  # +0900, +09, -6:00 -> +09:00, +09:00, -06:00
        hours, _, minutes = offset[1:].partition(":")
        if not minutes and len(hours) > 2:
            hours, minutes = hours[:-2], hours[-2:]
        iso += f"{offset[0]}{int(hours):02d}:{minutes or '00'}"
    try:
        return dt.datetime.fromisoformat(iso)
    except ValueError:
        return value


def _worded_date(text: str, value: str) -> Any:
    """An e-mail (RFC 2822) date or an English ``March 21, 2024``; else ``value`` unchanged."""
    if not re.search(r"[A-Za-z]{3}", text):
        return value
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    for form in _WORD_FORMATS:
        try:
            return dt.datetime.strptime(text, form).date()
        except ValueError:
            continue
    return value


# -- loading ----------------------------------------------------------------------------------


def shipped_profiles() -> list[str]:
    """The names of the profiles in ``profiles/``."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name, or a profile file (.toml, .yaml, .yml) by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".toml", ".yaml", ".yml") or os.sep in name_or_path:
        path = candidate
    else:
        path = PROFILES_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ProfileError(
                f"unknown profile {name_or_path!r}: pass one of "
                f"{', '.join(shipped_profiles())} or the path of a profile file"
            )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    try:
        spec = (tomllib.loads(text) if path.suffix == ".toml"
                else yaml.load(text, Loader=yaml.SafeLoader))  # fmt: skip
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ProfileError(f"profile {path} is not valid: {exc}") from None
    return profile_from(spec, text)


def profile_from(spec: Any, text: str) -> Profile:
    """A Profile from its parsed file (checked: unknown keys and wrong types are errors)."""
    if not isinstance(spec, dict):
        raise ProfileError("a profile is a mapping of settings")
    unknown = sorted(set(spec) - _ALLOWED)
    if unknown:
        raise ProfileError(f"unknown profile setting(s): {', '.join(unknown)}")
    keys = spec.get("keys") or {}
    if not isinstance(keys, dict):
        raise ProfileError("keys must be a table of contract key = [source keys]")
    bad = sorted(set(keys) - _CONTRACT_TARGETS)
    if bad:
        raise ProfileError(f"keys: not contract keys: {', '.join(bad)} "
                           f"(one of {', '.join(sorted(_CONTRACT_TARGETS))})")  # fmt: skip
    derive = spec.get("derive_url")
    if derive not in (None, "hugo", "jekyll"):
        raise ProfileError("derive_url must be 'hugo' or 'jekyll'")
    duplicates = spec.get("duplicate_keys", "reject")
    if duplicates not in ("reject", "last"):
        raise ProfileError("duplicate_keys must be 'reject' or 'last'")

    def names(value: Any, what: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ProfileError(f"{what} must be a key or a list of keys")

    return Profile(
        name=str(spec.get("name", "custom")),
        version=str(spec.get("version", "1")),
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:8],
        text=text,
        keys={target: names(sources, f"keys.{target}") for target, sources in keys.items()},
        url_keys=names(spec.get("url_keys", []), "url_keys"),
        derive_url=derive,
        permalink=spec.get("permalink"),
        draft_key=spec.get("draft_key"),
        date_from_filename=bool(spec.get("date_from_filename", False)),
        date_from_url=bool(spec.get("date_from_url", False)),
        content_dirs=names(spec.get("content_dirs", ["content"]), "content_dirs"),
        also_read=names(spec.get("also_read", []), "also_read"),
        not_articles=names(spec.get("not_articles", []), "not_articles"),
        require_date=bool(spec.get("require_date", False)),
        site_name=spec.get("site_name"),
        topic_separator=str(spec.get("topic_separator", ",")),
        fold_key_case=bool(spec.get("fold_key_case", False)),
        lang_key=spec.get("lang_key"),
        default_lang=spec.get("default_lang"),
        duplicate_keys=duplicates,
    )


CONFIG_NAME = "newsflow.toml"


def source_config(sources: tuple[str, ...]) -> dict[str, str]:
    """``profile`` and ``base_url`` from a ``newsflow.toml`` in a source folder (a profile path
    in it is relative to that file). Several sources must not disagree."""
    found: dict[str, tuple[str, str]] = {}  # key -> (value, the file that set it)
    for source in sources:
        path = Path(source) / CONFIG_NAME
        if not path.is_file():
            continue
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ProfileError(f"{path}: cannot be read as TOML: {exc}") from None
        unknown = sorted(set(config) - {"profile", "base_url"})
        if unknown:
            raise ProfileError(f"{path}: unknown setting(s) {', '.join(unknown)} "
                               "(a source's newsflow.toml sets profile and base_url)")  # fmt: skip
        for key, value in config.items():
            if not isinstance(value, str) or not value.strip():
                raise ProfileError(f"{path}: {key} must be text")
            if key == "profile" and Path(value).suffix in (".toml", ".yaml", ".yml"):
                value = str((path.parent / value).resolve())
            if key in found and found[key][0] != value:
                raise ProfileError(f"{found[key][1]} and {path} set different {key}s: run the "
                                   "sources separately")  # fmt: skip
            found[key] = (value, str(path))
    return {key: value for key, (value, _) in found.items()}


def resolve_profile(name: str, base_url: str | None, sources: tuple[str, ...]) -> Profile:
    """The run's profile: ``--profile`` (or NEWSFLOW_PROFILE) when it is not the default, else
    the sources' ``newsflow.toml``, else the default; likewise the base URL."""
    config = source_config(sources)
    chosen = name if name != "default" else config.get("profile", "default")
    return load_profile(chosen).for_run(base_url or config.get("base_url"), sources)


def url_hint(data: dict[str, Any]) -> str:
    """For a ``no_url`` rejection under the default profile: the URL-like keys found."""
    found = [f"{k}: {v:.60}" for k in URL_HINT_KEYS
             if isinstance(v := data.get(k), str) and v.strip()]  # fmt: skip
    if not found:
        return ""
    return f" (found {'; '.join(found)} — pass --profile hugo|jekyll and --base-url, or map it)"
