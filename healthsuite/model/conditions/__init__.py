"""The condition language: what must hold of what a probe observed (declared checks, issue 18).

A condition is parsed once, against the names its probe observes, then evaluated on each observation;
the outcome explains itself with the observed values inlined (docs/CONDITIONS.md):

    >>> condition = parse_condition("status == 200 and time.total < 500ms", ("status", "time"))
    >>> sorted(condition.roots())
    ['status', 'time']
    >>> condition.evaluate({"status": 404, "time": {"total": 1.52}}).explanation
    'status (404) == 200 and time.total (1.52 s) < 500ms'
    >>> parse_condition("stauts == 200", ("status", "time"))
    Traceback (most recent call last):
    ...
    healthsuite.model.conditions.tree.ConditionError: column 1 (`stauts`): unknown name `stauts`

A hand-written tokenizer and recursive-descent parser: no eval(), no parser library. Nesting is counted
(at most MAX_DEPTH levels of parentheses and `not`) and the text is at most MAX_LENGTH characters, so
parsing never nears Python's recursion limit. Evaluating never raises: a missing path, a value of the
wrong type or a foreign object makes the test fail with a reason.

One job per module, each importing only the ones before it:

- tree: the nodes a condition parses into, ConditionError, Outcome, the limits, the units, MISSING;
- tokens: the tokenizer (tree);
- parse: the recursive-descent parser (tree, tokens);
- show: an observed value as an explanation shows it (tree);
- evaluate: whether a tree holds of an observation, explained (tree, show);
- condition: Condition and parse_condition, which tie parse and evaluate together.
"""

from .condition import Condition, parse_condition
from .tree import MAX_DEPTH, MAX_LENGTH, MISSING, ConditionError, Outcome

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MISSING", "Condition", "ConditionError", "Outcome", "parse_condition"]
