"""What a run tells people and machines, each output a function of one `RunResult` (outputs.result).

- records: each check's setup, call and teardown folded into one record while the run goes
- result: the run's result, built once at its end (causes, platform incident, exit status)
- publish: the outputs in their order, each on its own (one failing loses no other)
- json_report, junit, html, prometheus, nagios, notices, history, summary: one output each
- files: writing a file whole, mode 0640, under a name no concurrent run takes; locks for shared state

None imports pytest or the plugin: the plugin (healthsuite.plugin) collects the records and hands the
result over.
"""
