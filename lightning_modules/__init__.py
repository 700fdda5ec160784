"""The zoo (``zoo/``: pure-torch networks), the Lightning classifier, the DataModules and their transforms."""
