"""What every benchmark script does with its report: write it to --out (if given) and print it."""

import sys
from pathlib import Path


def emit(text, out=None):
    """Write ``text`` to ``out`` (a path, or None for nowhere) and to stdout."""
    if out:
        Path(out).write_text(text)
    sys.stdout.write(text)
