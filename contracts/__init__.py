"""The typed contracts between the project's rooms: what both ``bench/`` and ``lightning_modules/`` may import.

``status`` (the record's status vocabulary) and ``errors`` (the one-line failures) are shared by the job
layer, the tasks and the Lightning side; this package imports nothing else of the project.
"""
