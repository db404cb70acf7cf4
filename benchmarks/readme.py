"""Paste the output of `make bench` (artifacts/bench.txt) into README.md's Speed section, verbatim, between the
markers `<!-- bench output start -->` and `<!-- bench output end -->`. The README quotes only what was printed.

Run: .venv/bin/python benchmarks/readme.py [artifacts/bench.txt]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench output start -->", "<!-- bench output end -->"


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "artifacts" / "bench.txt"
    output = src.read_text().rstrip()
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        sys.exit(f"README.md lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n```text\n{output}\n```\n{END}{tail}")
    print(f"README.md: pasted {len(output.splitlines())} lines from {src}")


if __name__ == "__main__":
    main()
