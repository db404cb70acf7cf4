"""Checkpoints: download (verified, with progress, cancel and resume) into the Hugging Face cache; local import;
offline."""

from studio.hub.download import (
    DownloadDamagedError,
    DownloadProgress,
    WeightsMissingError,
    cache_root,
    cached_file,
    download_files,
    import_local,
)

__all__ = ["DownloadDamagedError", "DownloadProgress", "WeightsMissingError", "cache_root", "cached_file",
           "download_files", "import_local"]
