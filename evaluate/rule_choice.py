"""A rule as a user names it (`python -m evaluate --rule`), built once the footage it judges is read.

Apart from `evaluate.rules` because the road's rule needs the surface, which needs the replay's path:
the replay itself imports only the rules' interface.
"""
from __future__ import annotations

from dataclasses import dataclass

from evaluate.replay import Footage
from evaluate.road_rule import RoadRule
from evaluate.rules import RULE_NAMES, LineRule, Rule


@dataclass(frozen=True)
class RuleChoice:
    """A rule as a user names it, built once the footage it judges is read."""

    name: str = "road"  # one of RULE_NAMES; the yardstick by default
    max_offset_m: float = LineRule.max_offset_m  # the line rule's limit

    def build(self, footage: Footage) -> Rule:
        if self.name not in RULE_NAMES:
            raise ValueError(f"unknown rule {self.name!r}: use one of {', '.join(RULE_NAMES)}")
        if self.name == "line":
            return LineRule(max_offset_m=self.max_offset_m)
        return RoadRule(footage)
