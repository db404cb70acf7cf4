"""Checkpoints: download with progress, cancel and resume into the Hugging Face cache; local import; offline."""

from studio.hub.download import (
    DownloadProgress,
    WeightsMissingError,
    cache_root,
    cached_file,
    download_files,
    import_local,
)

__all__ = ["DownloadProgress", "WeightsMissingError", "cache_root", "cached_file", "download_files",
           "import_local"]
