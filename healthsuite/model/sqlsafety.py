"""The SQL a file declares (PERF5 hot queries, DB11 invariants, data-mapping expressions) can only read.

The checks run that SQL in read-only transactions, but some functions act outside the transaction or
on the server all the same: `pg_try_advisory_lock(1)` keeps its lock after the transaction ends (even
rolled back), `pg_terminate_backend(...)` ends someone's session. So each piece is parsed by PostgreSQL's own
parser (pglast) when the file loads, and refused unless it has the one side-effect-free form its use
needs, with no locking clause, no INTO, no data-modifying WITH and no function of `DENIED`:

    >>> hot_query_problem("SELECT * FROM appointments WHERE tenant_id = 1") is None
    True
    >>> expression_problem("pg_try_advisory_lock(1)")
    'calls pg_try_advisory_lock(), which takes a session-level lock that outlives the read-only transaction'

pglast is imported on first use, so a run that declares no SQL never loads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_LOCK = "takes a session-level lock that outlives the read-only transaction"
_XACT_LOCK = "takes a lock that makes the application's own sessions wait"
_LOB = "creates, reads or removes large objects (server storage, some even server files)"
_SERVER_FILE = "reads the server's files or directories"
_SQL_STRING = "runs the SQL of a string, which cannot be checked here"
_INDEX = "writes to an index (summarizes ranges or flushes pending entries)"
_CONFIG_FILES = "reads the server's configuration files"

# (function name, fullmatch, lower case; why it is refused): effects beyond reading rows, which a read-only
# transaction does not stop (it refuses writes to tables, not these)
DENIED: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), why) for pattern, why in (
    (r"pg_(try_)?advisory_(xact_)?lock(_shared)?", ""),  # the reason depends on xact: see denial()
    (r"pg_advisory_unlock\w*", "releases advisory locks the application holds"),
    (r"lo_\w+|loread|lowrite", _LOB),
    (r"dblink\w*", "opens a connection to a database, outside this read-only transaction"),
    (r"pg_terminate_backend", "ends another session"),
    (r"pg_cancel_backend", "cancels another session's query"),
    (r"pg_reload_conf", "makes the server reload its configuration"),
    (r"pg_rotate_logfile\w*", "rotates the server's log file"),
    (r"pg_sleep\w*", "holds the connection and the database's resources for as long as it is told"),
    (r"set_config", "changes a setting of the session, outliving the transaction when is_local is false"),
    (r"nextval|setval", "advances or sets a sequence, which no rollback undoes"),
    (r"currval|lastval", "reads the session's sequence state, which a fresh read-only session does not have"),
    (r"txid_current|pg_current_xact_id", "assigns a transaction id, which a read-only check never needs"),
    (r"pg_notify", "sends a notification to the application's listeners"),
    (r"pg_stat_reset\w*|pg_stat_statements_reset", "resets statistics the server and its operators rely on"),
    (r"pg_switch_\w+|pg_wal_replay_\w+|pg_promote|pg_backup_\w+|pg_\w+_backup|pg_create_restore_point",
     "acts on the server's write-ahead log, replication or backups"),
    (r"pg_create_\w+|pg_drop_\w+|pg_replication_\w+|pg_logical_\w+|pg_copy_\w+_replication_slot",
     "creates, drops or advances replication slots or origins"),
    (r"pg_read_\w*file|pg_ls_\w+|pg_stat_file|pg_file_\w+", _SERVER_FILE),
    (r"pg_log_backend_memory_contexts", "writes to the server's log"),
    (r"pg_import_system_collations", "creates collations"),
    (r"pg_export_snapshot", "exports a snapshot for other sessions"),
    (r"query_to_\w+|cursor_to_\w+|table_to_\w+|schema_to_\w+|database_to_\w+", _SQL_STRING),
    (r"ts_stat|ts_rewrite|crosstab\w*|connectby", _SQL_STRING),
    (r"brin_\w*summarize\w*|gin_clean_pending_list", _INDEX),
    (r"pg_show_all_file_settings|pg_hba_file_rules|pg_ident_file_mappings", _CONFIG_FILES),
    (r"setseed", "changes the session's random seed, outliving the transaction"),
))

# the text of one piece of declared SQL is at most this long: PostgreSQL's parser (pglast, in this
# process) recurses once per nested operator, and an 80 KB `SELECT 1+1+...` ends the process (SIGSEGV)
MAX_SQL_CHARS = 16_384


def size_problem(text: str) -> str | None:
    """Why `text` is too long to be parsed here; None when it is not."""
    if len(text) > MAX_SQL_CHARS:
        return (f"is {len(text)} characters long, longer than the {MAX_SQL_CHARS} declared SQL may be "
                "(it is not parsed): write a shorter one")
    return None


def denial(name: str) -> str | None:
    """Why the function `name` (any case, schema-qualified or not) is refused; None when it is not."""
    bare = name.rsplit(".", 1)[-1].lower()
    for pattern, why in DENIED:
        if pattern.fullmatch(bare):
            if not why:  # an advisory lock
                return _XACT_LOCK if "xact" in bare else _LOCK
            return why
    return None


class Refusal(Exception):
    """The declared SQL is not one side-effect-free form; str() is the problem, after `it`."""


def _parse(text: str, prefix: str = "") -> Any:
    from pglast import parse_sql  # lazily: a run that declares no SQL never pays for it
    from pglast.parser import ParseError

    try:
        return parse_sql(prefix + text)
    except ParseError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        at = f" at character {location - len(prefix) + 1}" if location is not None and location >= len(prefix) else ""
        raise Refusal(f"is not valid SQL: {message}{at} (PostgreSQL's parser)") from None


# nodes are told apart by class name, not isinstance: pglast's parser (a C extension, loaded once per
# process) builds the classes of the first `pglast.ast` imported, and a re-import (pytester restores
# sys.modules) gives other classes of the same names
def _kind(node: Any) -> str:
    return type(node).__name__ if type(node).__module__ == "pglast.ast" else ""


def _nodes(node: Any) -> Iterator[Any]:
    """`node` and every node under it, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif _kind(item):
            yield item
            stack.extend(getattr(item, slot) for slot in reversed(tuple(getattr(type(item), "__slots__", ()))))


def _funcname(call: Any) -> str:
    return ".".join(str(getattr(part, "sval", part)) for part in call.funcname or ())


def _check_tree(tree: Any) -> None:
    """No function of DENIED, no locking clause, no INTO, no data-modifying WITH anywhere in `tree`."""
    for node in _nodes(tree):
        kind = _kind(node)
        if kind == "FuncCall":
            name = _funcname(node)
            why = denial(name)
            if why is not None:
                raise Refusal(f"calls {name.rsplit('.', 1)[-1].lower()}(), which {why}")
        elif kind == "LockingClause":
            raise Refusal("has a locking clause (FOR UPDATE/SHARE), which takes row locks: checks only read")
        elif kind == "SelectStmt" and node.intoClause is not None:
            raise Refusal("has INTO, which creates a table: checks only read")
        elif kind == "CommonTableExpr" and _kind(node.ctequery) != "SelectStmt":
            query = _kind(node.ctequery).removesuffix("Stmt").upper()
            raise Refusal(f"has a data-modifying WITH ({query} in {node.ctename}): checks only read")
        elif kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
            raise Refusal(f"contains {kind.removesuffix('Stmt').upper()}: checks only read")


def hot_query_problem(text: str) -> str | None:
    """Why `text` is not one side-effect-free SELECT (VALUES, set operations and WITH ... SELECT
    included); None when it is."""
    if not text.strip():
        return "is empty"
    too_long = size_problem(text)
    if too_long is not None:
        return too_long
    try:
        statements = _parse(text)
        if len(statements) != 1:
            return f"is {len(statements)} statements: a hot query is one"
        statement = statements[0].stmt
        if _kind(statement) != "SelectStmt":
            kind = _kind(statement).removesuffix("Stmt").upper() or "non-SELECT"
            return f"is {'an' if kind[0] in 'AEIOU' else 'a'} {kind} statement, not a SELECT"
        _check_tree(statement)
    except Refusal as refusal:
        return str(refusal)
    return None


def expression_problem(text: str) -> str | None:
    """Why `text` is not one side-effect-free scalar SQL expression (subqueries that only read are
    allowed); None when it is. It is parsed as `SELECT <text>`, which must have that one target only."""
    too_long = size_problem(text)
    if too_long is not None:
        return too_long
    try:
        statements = _parse(text, "SELECT ")
        statement: Any = statements[0].stmt if len(statements) == 1 else None
        if _kind(statement) != "SelectStmt" or statement.op or statement.targetList is None:
            return "is not one SQL expression"
        if len(statement.targetList) != 1:
            return "is a list (a comma outside parentheses): write one expression"
        clauses = [name for name in ("intoClause", "fromClause", "whereClause", "groupClause", "havingClause",
                                     "windowClause", "sortClause", "limitCount", "limitOffset", "lockingClause")
                   if getattr(statement, name)]
        if clauses or statement.distinctClause is not None or statement.withClause is not None:
            return "continues past the expression into clauses of a statement (FROM, WHERE, ORDER BY ...)"
        target = statement.targetList[0]
        if target.name is not None:
            return f"gives the expression a name ({target.name}): write the expression alone"
        if _kind(target.val) == "ColumnRef" and any(_kind(f) == "A_Star" for f in target.val.fields or ()):
            return "is `*`: write one expression"
        _check_tree(target.val)
    except Refusal as refusal:
        return str(refusal)
    return None


Names = tuple[frozenset[tuple[str, str]], ...]


def references(text: str) -> Names:
    """(functions, operators, relations, types) that `text` (one statement, or one expression) names, each
    as (schema or "", name) as the server will resolve it: the server's catalogue then decides what they
    are (probes.pgreader). A type is named in a cast (`x::t`, `CAST(x AS t)`, `t 'x'`) or a column
    definition: the server runs its input function and casts. Empty sets for text that does not parse (it
    was refused when the file loaded)."""
    try:
        tree = _parse(text)
    except Refusal:
        try:
            tree = _parse(text, "SELECT ")
        except Refusal:
            return frozenset(), frozenset(), frozenset(), frozenset()
    functions: set[tuple[str, str]] = set()
    operators: set[tuple[str, str]] = set()
    relations: set[tuple[str, str]] = set()
    types: set[tuple[str, str]] = set()
    for node in _nodes(tree):
        kind = _kind(node)
        if kind == "FuncCall":
            functions.add(_qualified(node.funcname))
        elif kind == "A_Expr" and node.name:
            operators.add(_qualified(node.name))
        elif kind == "RangeVar" and node.relname:
            relations.add((str(node.schemaname or ""), str(node.relname)))
        elif kind == "TypeName" and node.names:
            types.add(_qualified(node.names))
    return frozenset(functions), frozenset(operators), frozenset(relations), frozenset(types)


def _qualified(parts: Any) -> tuple[str, str]:
    names = [str(getattr(part, "sval", part)) for part in parts or ()]
    return (names[-2] if len(names) > 1 else "", names[-1] if names else "")
