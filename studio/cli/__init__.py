"""Command line over the same engine as the app."""
