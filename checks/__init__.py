"""The shipped checks, one module per category; installed as the package `healthsuite_checks`."""
