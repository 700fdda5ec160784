"""task=report: records to CSV / parquet / markdown and the dashboard."""
