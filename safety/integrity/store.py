"""The checkpoint store: append-only JSON lines outside the database, one file per day.

The store is the copy of the evidence an insider with the database cannot rewrite along with
it: put it on other storage than the database (another host, a write-once bucket, a backup
the database administrators cannot touch). Lines are only ever appended, each written whole
and flushed to disk before the checkpoint is reported made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from safety.hashing import canonical_json
from safety.integrity.evidence import EvidenceError

PREFIX = "checkpoints-"


def append(directory: Path, checkpoint: Mapping[str, Any], *, day: datetime) -> Path:
    """Append one checkpoint as a line to the day's file; return the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{PREFIX}{day:%Y-%m-%d}.jsonl"
    line = (canonical_json(dict(checkpoint)) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return path


def read_all(directory: Path) -> list[dict[str, Any]]:
    """Return every checkpoint in the store, oldest first (by number)."""
    found = list(_lines(_files(directory)))
    return sorted(found, key=lambda c: c.get("number", 0))


def newest(directory: Path) -> dict[str, Any] | None:
    """Return the newest checkpoint in the store, reading only the newest day's file, so that
    making a checkpoint does not cost more as the store grows."""
    found = list(_lines(_files(directory)[-1:]))
    return max(found, key=lambda c: c.get("number", 0)) if found else None


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{PREFIX}*.jsonl")) if directory.is_dir() else []


def _lines(files: list[Path]) -> Iterator[dict[str, Any]]:
    for path in files:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                raise EvidenceError(f"{path.name} line {number} is not a checkpoint") from None
            if not isinstance(value, dict):
                raise EvidenceError(f"{path.name} line {number} is not a checkpoint")
            yield value


def read_file(path: Path) -> list[dict[str, Any]]:
    """Read checkpoints handed to verify (--checkpoint FILE): one JSON line or object each."""
    text = path.read_text("utf-8-sig").strip()  # a BOM, if an editor saved one, is not JSON
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return [whole]
    try:
        found = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        raise EvidenceError(f"{path} does not hold checkpoints as JSON lines") from None
    if not found or not all(isinstance(c, dict) for c in found):
        raise EvidenceError(f"{path} does not hold checkpoints as JSON lines")
    return found
