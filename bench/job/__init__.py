"""The job life cycle every task shares: statuses, errors, the record, W&B, the environment."""
