pytest_plugins = ["healthsuite.plugin"]
