"""Organisation-side submission toolkit; imports neither dagster nor dbt."""
