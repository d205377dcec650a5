"""The one module that imports pytest's internals (`_pytest`), for what pytest offers no public way to do.

- `CallInfo`: the lean protocol (protocol) runs a check's phases and hands pytest the same call
  information its own protocol builds, so reports, `--lf` and every reporter see what they expect.
- `determine_setup`: the rootdir pytest would choose without option values that name our own files
  (configure), the same rule pytest applies.
- `mangle_test_address`, `xml_key`: JUnit's classname and name exactly as pytest's junitxml writes them,
  and its stash key, for the JUnit rewrite (handover).
- `Expression`: parse `-m` as pytest does, to name markers it does not know (selection).

If pytest changes one of these, this module is the only place to mend.
"""

from _pytest.config.findpaths import determine_setup
from _pytest.junitxml import mangle_test_address, xml_key
from _pytest.mark.expression import Expression
from _pytest.runner import CallInfo

__all__ = ["CallInfo", "Expression", "determine_setup", "mangle_test_address", "xml_key"]
