"""The typed contracts between the project's rooms: what both ``bench/`` and ``lightning_modules/`` may import.

``status`` (the record's status vocabulary) and ``errors`` (the one-line failures) are shared by the job
layer, the tasks and the Lightning side; ``config`` (with ``config_sections`` and ``config_errors``) is the
config schema Hydra composes on. This package imports nothing else of the project.
"""
