"""A parsed condition, the face of the package: parse_condition parses (parse), Condition.evaluate judges (evaluate)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from .evaluate import evaluate_tree
from .parse import parse
from .tree import Node, Outcome, roots_of


@dataclass(frozen=True)
class Condition:
    """A parsed condition; `evaluate` judges an observation (names to values, in base units)."""

    text: str
    _tree: Node = field(repr=False, compare=False)
    _roots: frozenset[str] = field(repr=False, compare=False, default=frozenset())

    def roots(self) -> frozenset[str]:
        """The root names the condition reads, e.g. frozenset({'status', 'json'})."""
        return self._roots

    def evaluate(self, observed: Mapping[str, object]) -> Outcome:
        """Whether the condition holds of `observed`, explained; never raises."""
        try:
            passed, explanation = evaluate_tree(self._tree, observed)
        except Exception as exc:  # a foreign object whose methods raise: still an outcome, never a traceback
            return Outcome(False, f"{self.text} (could not be evaluated: {type(exc).__name__})")
        return Outcome(passed, explanation)


def parse_condition(text: str, roots: Collection[str]) -> Condition:
    """Parse `text` against the root names a probe observes; raises ConditionError naming column and part.

    A sequence of roots keeps its order in messages; any other collection is sorted (deterministic).
    """
    ordered = (roots,) if isinstance(roots, str) else tuple(roots) if isinstance(roots, Sequence) else tuple(
        sorted(roots))
    tree = parse(text, ordered)
    return Condition(text, tree, frozenset(roots_of(tree)))
