"""A synthetic, seed-shaped corpus for benchmarks and tests (deterministic for a given seed).

Documents look like the real seed: nested provider, 1-5 topics, 0-3 images, 0-5 related entries
with 0-2 images each, a secured blob, a body in some, and a few re-crawled duplicate URLs (a later
copy of an earlier article). Strings are written as JSON, which is valid YAML double-quoted text.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVIDERS = [
    ("Reuters", "reuters.com"), ("The Guardian", "theguardian.com"), ("BBC News", "bbc.com"),
    ("Al Jazeera English", "aljazeera.com"), ("TechCrunch", "techcrunch.com"),
    ("The Verge", "theverge.com"), ("Wired", "wired.com"), ("Ars Technica", "arstechnica.com"),
    ("VentureBeat", "venturebeat.com"), ("ZDNet", "zdnet.com"), ("Engadget", "engadget.com"),
    ("CNBC", "cnbc.com"), ("Financial Times", "ft.com"), ("IEEE Spectrum", "spectrum.ieee.org"),
    ("MIT Technology Review", "technologyreview.com"), ("Dhaka Tribune", "dhakatribune.com"),
    ("Nikkei Asia", "asia.nikkei.com"), ("Der Spiegel", "spiegel.de"), ("Le Monde", "lemonde.fr"),
    ("The Hindu", "thehindu.com"), ("ABC News", "abc.net.au"), ("CBC News", "cbc.ca"),
]  # fmt: skip
TOPICS = [
    "AI", "Machine Learning", "Computer Vision", "Natural Language Processing", "Robotics",
    "Autonomous Vehicles", "Semiconductors", "Privacy", "Cloud Computing", "Quantum Computing",
    "Cybersecurity", "Regulation", "Healthcare AI", "Climate Tech", "Chips", "Startups",
    "Open Source", "Surveillance", "Ethics", "Drones",
]  # fmt: skip
WORDS = [
    "model", "data", "chip", "network", "robot", "vision", "language", "cloud", "privacy",
    "quantum", "startup", "regulator", "research", "lab", "funding", "launch", "report", "study",
    "court", "market", "system", "camera", "sensor", "platform", "security", "breach", "deal",
    "growth", "record", "test", "pilot", "ban", "rules", "users", "training", "benchmark",
]  # fmt: skip
START = dt.datetime(2020, 12, 1, tzinfo=dt.UTC)


@dataclass
class SyntheticDoc:
    """What was written, for tests that check loaded values exactly."""

    name: str
    web_url: str
    title: str
    published_at: dt.datetime
    quality: int
    heat: int
    is_published: bool
    provider_domain: str
    provider_name: str
    topics: list[str]
    images: int
    related: int
    related_images: int
    body: str | None
    duplicate_of: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:]


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _image_lines(rng: random.Random, domain: str, count: int, indent: str) -> list[str]:
    if count == 0:
        return [f"{indent}images: []"]
    lines = [f"{indent}images:"]
    for _ in range(count):
        width = rng.choice([300, 600, 817, 1200, 1600])
        lines += [
            f'{indent}  - url: "https://img.{domain}/{rng.getrandbits(48):012x}.jpg?w={width}"',
            f"{indent}    width: {width}",
            f"{indent}    height: {width * rng.choice([9, 10, 12]) // 16}",
            f"{indent}    isCached: {'true' if rng.random() < 0.85 else 'false'}",
        ]
    return lines


def render_document(rng: random.Random, index: int, urls: list[str]) -> tuple[str, SyntheticDoc]:
    """One document's text and the facts it states."""
    name, domain = rng.choice(PROVIDERS)
    published = START + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 420))
    slug = "-".join(rng.choice(WORDS) for _ in range(5))
    web_url = f"https://www.{domain}/{published:%Y/%m/%d}/{slug}-{index}"
    title = _sentence(rng, rng.randint(6, 12))
    quality, heat = rng.randint(0, 100), rng.randint(-1, 100)
    is_published = rng.random() < 0.75
    topics = rng.sample(TOPICS, rng.randint(1, 5))
    n_images, n_related = rng.choice([0, 1, 1, 1, 2, 3]), rng.choice([0, 1, 2, 3, 3, 4, 5])
    lines = [
        "---",
        "category: news",
        f"title: {_q(title)}",
        f"excerpt: {_q(_sentence(rng, rng.randint(30, 45)) + '.')}",
        f"publishedDateTime: {_stamp(published)}",
        f'originalUrl: "{web_url}"',
        f'webUrl: "{web_url}"',
        f'ampWebUrl: "https://www.{domain}/amp/{published:%Y/%m/%d}/{slug}-{index}"',
        f'cdnAmpWebUrl: "https://www-{domain.replace(".", "-")}.cdn.ampproject.org/c/s/'
        f'www.{domain}/amp/{slug}-{index}"',
        "type: article",
        f"quality: {quality}",
        f"heat: {heat}",
        f"published: {'true' if is_published else 'false'}",
        "",
        "provider:",
        f"  name: {name}",
        f"  domain: {domain}",
        "",
        "topics:",
        *(f"  - {topic}" for topic in topics),
        "",
        *_image_lines(rng, domain, n_images, ""),
        "",
    ]
    related_images = 0
    lines.append("related:" if n_related else "related: []")
    for _ in range(n_related):
        rel_name, rel_domain = rng.choice(PROVIDERS)
        rel_url = (
            rng.choice(urls)
            if urls and rng.random() < 0.3
            else f"https://www.{rel_domain}/news/{rng.getrandbits(40):010x}"
        )
        count = rng.choice([0, 1, 1, 2])
        related_images += count
        lines += [
            f"  - title: {_q(_sentence(rng, rng.randint(6, 12)))}",
            f"    excerpt: {_q(_sentence(rng, rng.randint(20, 35)) + '.')}",
            f"    publishedDateTime: {_stamp(published - dt.timedelta(hours=rng.randint(1, 48)))}",
            f'    webUrl: "{rel_url}"',
            f'    ampWebUrl: "{rel_url}/amp"',
            "    type: article",
            "    provider:",
            f"      name: {rel_name}",
            f"      domain: {rel_domain}",
            f"    quality: {rng.randint(0, 100)}",
            *_image_lines(rng, rel_domain, count, "    "),
        ]
    blob = base64.b64encode(rng.randbytes(rng.randint(300, 420))).decode()
    lines += ["", f'secured: "{blob};{base64.b64encode(rng.randbytes(16)).decode()}"', "---"]
    body = None
    if rng.random() < 0.3:
        body = "\n\n".join(_sentence(rng, rng.randint(40, 80)) + "." for _ in range(3)) + "\n"
        lines.append(body)
    text = "\n".join(lines) + ("" if body else "\n")
    doc = SyntheticDoc(
        f"{index:07d}.md" if index % 7 == 0 else f"{index:07d}.txt",
        web_url, title, published, quality, heat, is_published, domain, name, topics,
        n_images, n_related, related_images, body,
    )  # fmt: skip
    return text, doc


def write_corpus(
    out_dir: Path, count: int, seed: int = 7, duplicate_every: int = 997
) -> list[SyntheticDoc]:
    """Write ``count`` documents into ``out_dir`` (1,000 per subfolder); return their facts.

    Every ``duplicate_every``-th document re-crawls an earlier URL with a later date, so it wins.
    """
    rng = random.Random(seed)
    docs: list[SyntheticDoc] = []
    urls: list[str] = []
    for index in range(count):
        text, doc = render_document(rng, index, urls)
        if duplicate_every and index and index % duplicate_every == 0:
            original = docs[rng.randrange(len(docs))]
            later = original.published_at + dt.timedelta(days=400)
            text = text.replace(doc.web_url, original.web_url).replace(
                _stamp(doc.published_at), _stamp(later), 1
            )
            doc.duplicate_of, doc.web_url, doc.published_at = original.name, original.web_url, later
        folder = out_dir / f"{index // 1000:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / doc.name).write_text(text, encoding="utf-8")
        docs.append(doc)
        urls.append(doc.web_url)
    return docs


def render_big_document(index: int, size: int, seed: int = 7) -> str:
    """One valid document of exactly ``size`` bytes (64 KiB or more), as a hostile user would
    write it: a long title and excerpt, thousands of images and related entries (each with its
    own excerpt) and many topics in the front matter, then a long body after it. About a third
    of the bytes are the front matter's long texts, a third its lists and a third the body."""
    rng = random.Random(seed * 1_000_003 + index)
    name, domain = PROVIDERS[index % len(PROVIDERS)]
    published = START + dt.timedelta(minutes=index)
    web_url = f"https://www.{domain}/big/{index}"

    def words(count_bytes: int) -> str:
        text = _sentence(rng, max(1, count_bytes // 7))
        return text[:count_bytes]

    share = size // 12
    lines = [
        "---",
        "category: news",
        f"title: {_q(words(share // 4))}",
        f"excerpt: {_q(words(share * 3))}",
        f"publishedDateTime: {_stamp(published)}",
        f'webUrl: "{web_url}"',
        "type: article",
        f"quality: {index % 101}",
        "provider:",
        f"  name: {name}",
        f"  domain: {domain}",
        "topics:",
        *(f"  - Topic {index % 7} {t}" for t in range(share // 4 // 20)),
        "images:",
    ]
    for i in range(share // 110):
        lines += [
            f'  - url: "https://img.{domain}/{index}/{i}.jpg"',
            "    width: 1200",
            "    height: 630",
            "    isCached: true",
        ]
    lines.append("related:")
    for i in range(share * 2 // 400):
        lines += [
            f"  - title: {_q(words(60))}",
            f"    excerpt: {_q(words(230))}",
            f'    webUrl: "https://www.{domain}/rel/{index}/{i}"',
            "    type: article",
        ]
    lines.append("---")
    head = "\n".join(lines) + "\n"
    room = size - len(head.encode("utf-8")) - 1
    body = "\n\n".join(words(500) for _ in range(max(0, room) // 502))
    body += "." * max(0, room - len(body))  # exactly ``size`` bytes when the head fits
    return head + body + "\n"


def write_big_corpus(out_dir: Path, count: int, size: int, seed: int = 7) -> list[Path]:
    """Write ``count`` documents of exactly ``size`` bytes each (see
    :func:`render_big_document`) into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = out_dir / f"big-{index:05d}.md"
        path.write_text(render_big_document(index, size, seed), encoding="utf-8")
        paths.append(path)
    return paths
