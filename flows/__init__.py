"""Prefect flows: thin wiring of the stage tasks."""
