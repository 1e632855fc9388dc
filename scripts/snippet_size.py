"""Print the raw and gzipped size of snippet/b.js; fail if it outgrows its budget.

The budget covers everything a page loads before an offer is shown; the offer and chat UI
are loaded lazily and are not counted here.

    python scripts/snippet_size.py
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

SNIPPET = Path(__file__).resolve().parent.parent / "snippet" / "b.js"
BUDGET_GZIP = 6272  # bytes, gzip level 9 (6,144 until Beckon.contact() and marked forms, issue 13)


def sizes(path: Path = SNIPPET) -> tuple[int, int]:
    raw = path.read_bytes()
    return len(raw), len(gzip.compress(raw, compresslevel=9, mtime=0))


def main() -> int:
    raw, gz = sizes()
    print(f"{SNIPPET.name}: {raw} bytes raw, {gz} bytes gzipped (budget {BUDGET_GZIP})")
    if gz > BUDGET_GZIP:
        print(f"over budget by {gz - BUDGET_GZIP} bytes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
