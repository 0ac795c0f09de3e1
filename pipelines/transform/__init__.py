"""The dbt project's Python side: files generated from the standard, and running dbt."""
