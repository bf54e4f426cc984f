"""Every topic's suite gets the `impl` fixture, points and readable failures from the harness.

See grader/pytest_plugin.py. Tests reach learner code only through `impl` (docs/design.md rule 8).
"""

from grader.pytest_plugin import (  # noqa: F401  (pytest finds hooks and fixtures by name)
    impl,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_sessionfinish,
)
