"""healthsuite: runbooks that run.

The package holds the machinery: the environment model (`environment`, `envfile`), the diagnosis
catalogue (`catalogue`), probes (`probes`), failure messages (`failure`) and report writers
(`reports`). None of those import pytest; `plugin` holds the pytest hooks and `checkapi` the
decorator and fixtures that checks in `checks/` use.
"""

__version__ = "0.1.0"
