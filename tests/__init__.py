"""day6's test suite (a package, so tests can share helpers: ``from tests.sdk_helpers import ...``)."""
