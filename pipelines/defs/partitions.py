"""Partitions: the census month. Ingestion is partitioned by period so that one run can take
every organisation's packages for a period (hundreds of organisations, one run), and a
backfill over many periods runs as one run too (single-run backfill policy)."""

import dagster as dg

PERIODS = dg.MonthlyPartitionsDefinition(start_date="2023-01", fmt="%Y-%m", end_offset=0)
