"""Paste the output of `make bench` (artifacts/bench.txt) into README.md's Speed section, verbatim, between the
markers `<!-- bench output start -->` and `<!-- bench output end -->`. The README quotes only what was printed.
`--section NAME` pastes between `<!-- NAME output start -->` and `<!-- NAME output end -->` instead (the voice
cloning runs: `clone` for `make bench-clone`, `clone-gpu` for a run on a GPU machine).

Run: .venv/bin/python benchmarks/readme.py [artifacts/bench.txt] [--section NAME]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    args = sys.argv[1:]
    section = "bench"
    if "--section" in args:
        i = args.index("--section")
        section = args[i + 1]
        del args[i:i + 2]
    start, end = f"<!-- {section} output start -->", f"<!-- {section} output end -->"
    src = Path(args[0]) if args else ROOT / "artifacts" / "bench.txt"
    output = src.read_text().rstrip()
    readme = ROOT / "README.md"
    text = readme.read_text()
    if start not in text or end not in text:
        sys.exit(f"README.md lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n```text\n{output}\n```\n{end}{tail}")
    print(f"README.md: pasted {len(output.splitlines())} lines from {src}")


if __name__ == "__main__":
    main()
