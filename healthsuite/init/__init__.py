"""`python -m healthsuite init`: a starting environment file, written from what is live.

Discovery only reads, every exchange bounded by its deadline: a short list of common paths and the
home page's same-host links (healthsuite.init.web), the health endpoint's JSON status fields, the
tables, foreign keys, largest tables and their indexes of a PostgreSQL database in a read-only
transaction that commits (healthsuite.init.database), and Redis's INFO (healthsuite.init.cache).
healthsuite.init.render writes the file, every discovered value marked `# guessed: confirm`;
healthsuite.init.command is the command line.
"""

import re

GUESSED = "# guessed: confirm"


# what a discovered value may not hold to be written: a character that ends a line for some YAML
# parser (LF, CR, NEL, U+2028, U+2029) or any other control or invisible formatting character, and `${`,
# which a templated key would resolve as a variable reference
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ufff9-\uffff\ud800-\udfff]")
MAX_SHOWN = 80


def unsafe(value: str) -> str | None:
    """Why a discovered value cannot be written into the file (None: it can)."""
    if _UNSAFE.search(value):
        return "it holds a control or line-separator character"
    if "${" in value:
        return "it holds `${`, which would read as a variable reference"
    return None


def shown(value: str) -> str:
    """A discovered value as the terminal and a comment show it: every character that is not plainly
    printable escaped (\\n, \\u2028, \\x1b...), cut at MAX_SHOWN characters, in single quotes."""
    return f"'{comment(value[:MAX_SHOWN])}{'...' if len(value) > MAX_SHOWN else ''}'"


def comment(text: str) -> str:
    """Text for a `#` comment: nothing in it ends the line for any YAML parser (escaped as in `shown`)."""
    return "".join(ch if ch.isprintable() and not _UNSAFE.match(ch) else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)
