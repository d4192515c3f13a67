"""The application: the `fairdistill` command line and the served-mode supervisor, above the flows."""
