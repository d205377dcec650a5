"""`python -m healthsuite init`: a starting environment file, written from what is live.

Discovery only reads, every exchange bounded by its deadline: a short list of common paths and the
home page's same-host links (healthsuite.init.web), the health endpoint's JSON status fields, the
tables, foreign keys, largest tables and their indexes of a PostgreSQL database in a read-only
transaction that commits (healthsuite.init.database), and Redis's INFO (healthsuite.init.cache).
healthsuite.init.render writes the file, every discovered value marked `# guessed: confirm`;
healthsuite.init.command is the command line.
"""

GUESSED = "# guessed: confirm"
