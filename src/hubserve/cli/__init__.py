"""The ``hubserve`` command line."""
