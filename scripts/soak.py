"""Run the reliability suite, keep its figures, and rebuild the figures tables of docs/reliability.md.

`python scripts/soak.py` (make soak) runs the long versions (10,000 messages under load); `--scale test`
runs the sizes `make test` runs. The numbers in the report come only from such a run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "reliability-figures.json"
REPORT = ROOT / "docs" / "reliability.md"
# The reliability suite is one module per fault family; found by name, so a new family needs no edit here
SUITE = [
    f"microcosm_pubsub.tests.{path.stem}"
    for path in sorted((ROOT / "microcosm_pubsub" / "tests").glob("test_reliability_*.py"))
]
# The environment variables microcosm_pubsub/tests/reliability/harness.py reads
SCALE_VARIABLE = "PUBSUB_RELIABILITY_SCALE"
FIGURES_VARIABLE = "PUBSUB_RELIABILITY_FIGURES"
# make soak must finish within ten minutes; the suite is stopped before then
TIMEOUT_SECONDS = 570
ORDER = [
    "sigkill-concurrency-1", "sigkill-concurrency-16", "sigterm", "outage-refuse", "outage-error", "storm",
    "poison", "load", "signing", "fuzz", "fuzz-signing",
]
COLUMNS = ["messages_in", "handled", "lost", "duplicated", "dead_lettered"]
COMMON = {"fault", "action", "scale", "recorded_at", *COLUMNS}


def begin(scale: str) -> str:
    return f"<!-- figures {scale}: begin (scripts/soak.py writes this part) -->"


def end(scale: str) -> str:
    return f"<!-- figures {scale}: end -->"


def run(scale: str) -> int:
    """Run the suite at `scale`; that scale's old figures go first, so a failed test leaves no stale row."""
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    figures = {key: row for key, row in figures.items() if not key.startswith(f"{scale}/")}
    FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    env = {**os.environ, SCALE_VARIABLE: scale, FIGURES_VARIABLE: str(FIGURES)}
    command = [sys.executable, "-W", "error", "scripts/run_tests.py", "-v", "-s", ".", *SUITE]
    try:
        return subprocess.run(command, cwd=ROOT, env=env, timeout=TIMEOUT_SECONDS, check=False).returncode  # noqa: S603
    except subprocess.TimeoutExpired:
        print(f"the reliability suite did not finish within {TIMEOUT_SECONDS} s", file=sys.stderr)
        return 1


def cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| Fault | What was done | Messages in | Handled | Lost | Duplicated | Dead-lettered |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    notes = []
    for key in sorted(rows, key=lambda key: ORDER.index(key) if key in ORDER else len(ORDER)):
        row = rows[key]
        cells = [row["fault"], row["action"], *(cell(row.get(column, "-")) for column in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
        extra = {name: value for name, value in row.items() if name not in COMMON}
        if extra:
            listed = ", ".join(f"{name} = {json.dumps(value)}" for name, value in extra.items())
            notes.append(f"- {row['fault']}: {listed}")
    recorded = sorted(row["recorded_at"] for row in rows.values())
    header = f"Recorded {recorded[0]} to {recorded[-1]} (UTC), {len(rows)} rows.\n\n" if recorded else ""
    return header + "\n".join(lines) + ("\n\nOther figures of the same run:\n\n" + "\n".join(notes) if notes else "")


def render() -> None:
    """Replace each scale's section of the report with the table of its last run."""
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    report = REPORT.read_text()
    for scale in ("test", "soak"):
        rows = {key.split("/", 1)[1]: row for key, row in figures.items() if key.startswith(f"{scale}/")}
        head, found, rest = report.partition(begin(scale))
        _, closed, tail = rest.partition(end(scale))
        if not (found and closed):
            raise SystemExit(f"{REPORT} lacks the markers of the {scale} figures")
        body = table(rows) if rows else "No run recorded yet."
        report = f"{head}{begin(scale)}\n{body}\n{end(scale)}{tail}"
    REPORT.write_text(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=["test", "soak"], default="soak")
    parser.add_argument("--render-only", action="store_true", help="rebuild the tables from the figures file")
    args = parser.parse_args()
    status = 0 if args.render_only else run(args.scale)
    render()
    print(f"figures: {FIGURES.relative_to(ROOT)}; report: {REPORT.relative_to(ROOT)}; suite status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
