"""The files a config is made of, its YAML and the cards_dir tree, read as one version and
fingerprinted, so that a changed version, a Kubernetes ConfigMap's `..data` symlink swap
included, is told from the loaded one. The checked load of such a version is
app/rendering/checks.py: load_checked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.config.model import Config, ConfigError

# A cards_dir holds a few templates; the reload watcher reads all of them every poll, so a
# directory with more files than this is refused as the wrong one.
MAX_CARD_FILES = 200
DIGEST_HEX_CHARS = 16

CardFiles = list[tuple[str, bytes]]  # (path relative to cards_dir, content), sorted


@dataclass(frozen=True, slots=True)
class Loaded:
    """A config that passed every check, and which version of its files it came from."""

    config: Config
    source: str  # the path as given, or EMBEDDED_DEFAULT
    # Shown in /status and by check-config to tell versions apart: a hash of the files with
    # every secret in them masked first, so it cannot confirm a guessed password.
    digest: str | None
    fingerprint: str  # of the files as read: what the watcher compares ("" for the default)
    # The text of every file below cards_dir as checked (None without a cards_dir): the bridge
    # renders with these, never with a file changed since (a reload checks that first).
    cards: Mapping[str, str] | None = None


def card_texts(files: CardFiles) -> dict[str, str]:
    if len(files) > MAX_CARD_FILES:
        raise ConfigError(
            f"server.cards_dir: more than {MAX_CARD_FILES} files below it; is it the right one?"
        )
    texts = {}
    for name, content in files:
        try:
            texts[name] = content.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"cards: {name} is not UTF-8") from None
    return texts


def current_fingerprint(path: Path, cards_dir: Path | None) -> str:
    """The fingerprint of the files now; an unreadable config is a version too (loading it
    reports why), so this never raises."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return f"unreadable config: {exc.errno}"
    return fingerprint(raw, read_cards(cards_dir))


def fingerprint(config: bytes, cards: CardFiles) -> str:
    """Content, not mtimes: a symlink swap, an edit within one mtime tick and a rename all
    change it, and rewriting the same bytes does not."""
    digest = hashlib.sha256()
    for name, content in [("", config), *cards]:
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def read_cards(cards_dir: Path | None) -> CardFiles:
    """Every file below `cards_dir`, through symlinks, up to one more than MAX_CARD_FILES.

    Names starting with "." are skipped: a ConfigMap volume's `..data` and `..<timestamp>`
    directories hold the same files again, and editors' swap files are not cards. A file gone
    between listing and reading is left out: the next look sees the swap finished.
    """
    if cards_dir is None or not cards_dir.is_dir():
        return []
    found: CardFiles = []
    visited: set[str] = set()
    for top, dirs, names in os.walk(cards_dir, followlinks=True):
        real = os.path.realpath(top)
        if real in visited:  # a symlink loop
            dirs.clear()
            continue
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in names if not n.startswith(".")):
            path = Path(top, name)
            try:
                found.append((path.relative_to(cards_dir).as_posix(), path.read_bytes()))
            except OSError:
                continue
            if len(found) > MAX_CARD_FILES:
                return found
    return found
