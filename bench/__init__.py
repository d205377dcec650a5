"""The benchmark of a full healthsuite run: `python -m bench` (see bench/run.py)."""
