"""Hub-side logic (pure Python and DuckDB): opening packages, landing them, quarantine,
the audit log, retention. pipelines/defs wires these into Dagster."""
