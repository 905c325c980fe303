"""The markdown table every benchmark prints: one row a figure, beside the classic approach's; and the
docs page it is written into (`python -m benchmarks --markdown docs/benchmarks.md`)."""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path

# The generated part of a docs page lies between these two lines; the prose around it is the page's own.
BEGIN, END = "<!-- python -m benchmarks: begin -->", "<!-- python -m benchmarks: end -->"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown(rows: list[dict], ours: str = "value", classic: str = "classic") -> str:
    """Rows with `metric`, `value`, `unit`, optionally `classic`, `ratio` (how many times better ours is) and `section`."""
    sectioned = any("section" in row for row in rows)
    header = (["section"] if sectioned else []) + ["metric", ours, "unit", classic, "ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        ratio = row.get("ratio")
        cells = ([row.get("section", "")] if sectioned else []) + [
            row["metric"], _cell(row["value"]), row["unit"], _cell(row.get("classic")),
            "" if ratio is None else f"{_cell(ratio)}×"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    """The processor, its cores and whether it computes bfloat16 itself: what the figures depend on."""
    model = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: platform's name is all there is
        flags: set[str] = set()
    else:
        names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, flags=re.MULTILINE)
        model = names[0].strip() if names else model
        found = re.search(r"^flags\s*:(.*)$", cpuinfo, flags=re.MULTILINE)
        flags = set(found.group(1).split()) if found else set()
    bf16 = sorted(flags & {"avx512_bf16", "amx_bf16"})
    return (f"{model}, {os.cpu_count()} cores{', with ' + ' and '.join(bf16) if bf16 else ''}, "
            f"Python {platform.python_version()}")


def load() -> str:
    """The machine's load average over the last minute, beside its cores (no figure where unknown)."""
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:  # Windows
        return "load average unknown"


def write_into_page(page: Path, generated: str, dry_run: bool = False) -> None:
    """Replace what lies between BEGIN and END in `page` with `generated` (the page must have both lines);
    `dry_run`: only check that it could."""
    from base.atomic import write_text_atomic

    try:
        text = page.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{page} does not exist: give a page that holds the lines {BEGIN} and {END}") from None
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{page} needs one line {BEGIN} and, below it, one line {END}: the table goes between them")
    before, rest = text.split(BEGIN)
    after = rest.split(END)[1]
    if not dry_run:
        write_text_atomic(page, f"{before}{BEGIN}\n{generated.strip()}\n{END}{after}")
