"""Tasks that combine audio and models and return plain dataclasses for the views."""
