"""Voice Studio: record, transcribe, clone, caption, and look inside the models."""

__version__ = "0.1.0"
