"""The harness: tasks, the timing protocol, cost figures, result records and reports."""
