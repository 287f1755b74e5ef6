"""A Kubernetes ConfigMap volume laid out as the kubelet writes it: each key is a symlink
`key -> ..data/key`, `..data` is a symlink to a timestamped directory, and an update writes a new
directory and then renames a new `..data` link over the old one (one atomic step)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DATA = "..data"


class ConfigMapVolume:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.updates = 0

    def publish(self, files: dict[str, str | bytes]) -> None:
        """Show `files` (relative path → content) instead of what was there."""
        self.updates += 1
        stamp = self.root / f"..2026_11_27_10_00_{self.updates:02d}.{4000 + self.updates}"
        for name, content in files.items():
            path = stamp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        data = self.root / DATA
        previous = data.resolve() if data.is_symlink() else None
        staged = self.root / "..data_tmp"
        staged.symlink_to(stamp.name)
        os.replace(staged, data)
        keys = {name.split("/", 1)[0] for name in files}
        for entry in self.root.iterdir():
            if not entry.name.startswith("..") and entry.name not in keys:
                entry.unlink()
        for key in keys:
            link = self.root / key
            if not link.is_symlink():
                link.symlink_to(Path(DATA) / key)
        if previous is not None:
            shutil.rmtree(previous)
