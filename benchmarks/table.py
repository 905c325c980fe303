"""The markdown table every benchmark prints: one row a figure, beside the classic approach's."""
from __future__ import annotations


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
