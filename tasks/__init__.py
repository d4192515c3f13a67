"""Prefect tasks: one module per stage; each task calls one plain function, then logs and reports."""
