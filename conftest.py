# The plugin is registered by the installed package (pyproject.toml's pytest11 entry point), so it
# loads wherever pytest runs; registering it here as well would load the same module twice.
