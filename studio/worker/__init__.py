"""The background thread that hosts models and runs jobs. Qt-free; `studio.worker.qt` adapts it to signals."""

from studio.worker.errors import ErrorReport, describe_error
from studio.worker.jobs import JobContext
from studio.worker.registry import ModelRegistry
from studio.worker.thread import Worker

__all__ = ["ErrorReport", "JobContext", "ModelRegistry", "Worker", "describe_error"]
