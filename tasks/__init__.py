"""Prefect tasks: one module per stage; each task calls one plain function, then logs and reports.

Each task logs one line when it ends (what it made and how long it took); round-level losses go to
MLflow and to the DEBUG level.
"""
