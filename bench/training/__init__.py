"""task=train and task=eval: Lightning fit / validate summarised for the record."""
