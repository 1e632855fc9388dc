"""Uploaded documents on disk (Settings.media_dir): one folder per site, each file named by a
random id, never by what the uploader called it. A file is written to a temporary name in the
site's folder and renamed into place once whole and checked, so a reader never sees half a
file and a refused upload leaves nothing behind. The size limit holds while the body is read:
nothing larger than it is ever written or kept in memory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from backend.core import materials as core
from backend.core.download_links import STORED_RE
from backend.core.protocol import ID_RE
from backend.core.validation import ValidationError



class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes")
        self.limit = limit


class Refused(ValidationError):
    """The upload is not a file we accept (core/materials.py:check_upload says why)."""


@dataclass(frozen=True)
class Stored:
    path: Path
    document: core.Document


class MediaDir:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def folder(self, site: str) -> Path:
        if not ID_RE.fullmatch(site):  # site keys are ours; checked anyway, as a path part
            raise ValueError("not a site key")
        return self.root / site

    def path(self, site: str, stored: str) -> Path | None:
        """Where a stored document is, when ``stored`` is one of our names and the file exists."""
        if not STORED_RE.fullmatch(stored) or not ID_RE.fullmatch(site):
            return None
        found = self.folder(site) / stored
        return found if found.is_file() else None

    async def save(self, site: str, chunks: AsyncIterator[bytes], filename: str, claimed_type: str) -> Stored:
        """The body as a new file of the site; TooLarge or Refused (nothing left on disk)."""
        folder = self.folder(site)
        folder.mkdir(parents=True, exist_ok=True)
        stored = secrets.token_hex(16)
        tmp = folder / f".up-{stored}"
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            with open(tmp, "xb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise TooLarge(self.max_bytes)
                    if len(head) < core.SNIFF_BYTES:
                        head += chunk[:core.SNIFF_BYTES - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:  # said before "is not a PDF ...": an empty file is the reason
                raise Refused([("file", "is empty")])
            checked = core.check_upload(head, filename, claimed_type)
            if isinstance(checked, list):
                raise Refused(checked)
            final = folder / stored
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return Stored(final, core.Document(stored, checked.filename, checked.content_type, size, digest.hexdigest()))

    def remove(self, site: str, stored: str) -> None:
        found = self.path(site, stored)
        if found is not None:
            found.unlink(missing_ok=True)
