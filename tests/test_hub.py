"""The download path for real: huggingface_hub talks to a local HTTP server that answers the way the Hub does
(HEAD/GET on resolve URLs with X-Repo-Commit and ETag; LFS files as a redirect to a CDN on another host, with
X-Linked-Etag = sha256 and X-Linked-Size; Range requests), and a second server plays the CDN."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from studio.errors import JobCancelled, StudioError
from studio.hub import WeightsMissingError, cached_file, download_files, import_local

COMMIT = "a" * 40
FILES = {"config.json": b'{"d_model": 384}', "model.safetensors": bytes(range(256)) * 4096}  # 1 MiB
LFS = {"model.safetensors", "model.bin"}  # served like LFS files: a redirect to the CDN
TOKEN = "hf_secret_token_for_tests"
REMEDY = "Import local weights…"
ESCAPE = "/tmp/voice-studio-test-escaped"  # an absolute "commit" from a hostile endpoint


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Req:
    server: str           # "hub" or "cdn"
    method: str
    path: str
    range: str | None
    auth: str | None


@dataclass
class State:
    repos: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"test/tiny": dict(FILES)})
    requests: list[Req] = field(default_factory=list)
    delay: float = 0.0
    corrupt: set[str] = field(default_factory=set)      # file names served with one byte changed
    lie: dict[str, str] = field(default_factory=dict)   # response headers the hub replaces (hostile endpoint)
    ignore_range: bool = False                          # the CDN answers a Range with the whole file (200)
    cdn: str = ""


S = State()


def _served(name: str, body: bytes) -> bytes:
    if name in S.corrupt:
        return body[:100] + bytes([body[100] ^ 0xFF]) + body[101:] if len(body) > 100 else body[:-1] + b"!"
    return body


class _Base(http.server.BaseHTTPRequestHandler):
    server_name_ = "hub"

    def log_message(self, *args: object) -> None:
        pass

    def _record(self) -> None:
        S.requests.append(Req(self.server_name_, self.command, self.path, self.headers.get("Range"),
                              self.headers.get("Authorization")))

    def _send_body(self, body: bytes, headers: dict[str, str], with_body: bool) -> None:
        rng = None if S.ignore_range else self.headers.get("Range")
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        self.send_response(206 if rng else 200)
        for k, v in {**headers, **S.lie}.items():
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body) - start))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if not with_body:
            return
        for i in range(start, len(body), 65536):
            try:
                self.wfile.write(body[i : i + 65536])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(S.delay)


class _Hub(_Base):
    def _answer(self, with_body: bool) -> None:
        self._record()
        parts = urlsplit(self.path).path.split("/")  # /org/name/resolve/rev/file
        repo = "/".join(parts[1:3])
        files = S.repos.get(repo)
        name = "/".join(parts[5:])
        if files is None or len(parts) < 6 or parts[3] != "resolve" or parts[4] not in ("main", COMMIT) \
                or name not in files:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound" if files is None else "EntryNotFound")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = files[name]
        if name in LFS:  # the Hub answers with a redirect to a signed CDN url and the file's sha256
            self.send_response(302)
            for k, v in {"Location": f"{S.cdn}/blobs/{sha256(body)}?signed=1", "X-Repo-Commit": COMMIT,
                         "X-Linked-Etag": f'"{sha256(body)}"', "X-Linked-Size": str(len(body)),
                         "ETag": f'"{git_sha1(b"pointer " + body[:10])}"', **S.lie}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send_body(_served(name, body), {"X-Repo-Commit": COMMIT, "ETag": f'"{git_sha1(body)}"'}, with_body)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)


class _Cdn(_Base):
    server_name_ = "cdn"

    def do_GET(self) -> None:  # noqa: N802
        self._record()
        want = urlsplit(self.path).path.removeprefix("/blobs/")
        for files in S.repos.values():
            for name, body in files.items():
                if sha256(body) == want:
                    self._send_body(_served(name, body), {}, True)
                    return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    global S
    S = State()
    hub_server, cdn_server = _serve(_Hub), _serve(_Cdn)
    S.cdn = f"http://localhost:{cdn_server.server_address[1]}"  # another host and port than the Hub's
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{hub_server.server_address[1]}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path / "hf" / "hub"
    hub_server.shutdown()
    cdn_server.shutdown()


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def test_downloads_with_progress_into_the_hf_cache_layout(hub: Path):
    seen = []
    paths = download_files("test/tiny", list(FILES), progress=seen.append)
    assert sha256(paths["model.safetensors"].read_bytes()) == sha256(FILES["model.safetensors"])
    assert paths["config.json"].parent == hub / "models--test--tiny" / "snapshots" / COMMIT
    assert (hub / "models--test--tiny" / "blobs" / sha256(FILES["model.safetensors"])).is_file()
    assert (hub / "models--test--tiny" / "refs" / "main").read_text() == COMMIT
    assert seen[-1].done == seen[-1].total == sum(map(len, FILES.values()))
    assert [p.done for p in seen] == sorted(p.done for p in seen) and len(seen) > 5
    # the LFS file came from the CDN, the small one from the Hub
    assert any(r.server == "cdn" and r.method == "GET" for r in S.requests)
    # huggingface_hub itself finds the files, offline
    assert cached_file("test/tiny", "model.safetensors") == paths["model.safetensors"]


@pytest.mark.parametrize("how", ["HF_TOKEN", "argument"])
def test_token_goes_to_the_hub_but_never_to_the_cdn(hub: Path, monkeypatch: pytest.MonkeyPatch, how: str):
    if how == "HF_TOKEN":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        download_files("test/tiny", list(FILES))
    else:
        download_files("test/tiny", list(FILES), token=TOKEN)
    hub_requests = [r for r in S.requests if r.server == "hub"]
    cdn_requests = [r for r in S.requests if r.server == "cdn"]
    assert hub_requests and cdn_requests
    assert all(r.auth == f"Bearer {TOKEN}" for r in hub_requests)
    assert [r.auth for r in cdn_requests] == [None] * len(cdn_requests)


def test_second_call_uses_the_cache_and_works_offline(hub: Path, monkeypatch: pytest.MonkeyPatch):
    download_files("test/tiny", list(FILES))
    gets = sum(r.method == "GET" for r in S.requests)
    download_files("test/tiny", list(FILES))
    assert sum(r.method == "GET" for r in S.requests) == gets
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(S.requests)
    assert download_files("test/tiny", ["config.json"])["config.json"].read_bytes() == FILES["config.json"]
    assert len(S.requests) == n
    # no network at all (connection refused) is the same
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    path = download_files("test/tiny", ["model.safetensors"])["model.safetensors"]
    assert sha256(path.read_bytes()) == sha256(FILES["model.safetensors"])


def test_missing_weights_offline_say_what_to_download_and_where(hub: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as err:
        download_files("test/tiny", ["model.safetensors"])
    assert "offline" in err.value.message and "model.safetensors" in err.value.message
    assert "models--test--tiny" in err.value.remedy and REMEDY in err.value.remedy
    assert not S.requests


def test_unreachable_server_is_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(WeightsMissingError, match="could not be reached") as err:
        download_files("test/tiny", ["config.json"])
    assert REMEDY in err.value.remedy


def test_unknown_file_and_unknown_repo_are_named(hub: Path):
    with pytest.raises(WeightsMissingError, match="'nope.bin' was not found"):
        download_files("test/tiny", ["nope.bin"])
    with pytest.raises(WeightsMissingError, match="The model 'nobody/nothing' was not found"):
        download_files("nobody/nothing", ["config.json"])
    with pytest.raises(StudioError, match="not a valid"):
        download_files("bad/../name", ["config.json"])


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_corrupted_download_is_refused_and_not_cached(hub: Path, name: str):
    """The LFS file must hash to the sha256 in X-Linked-Etag, a small file to its git blob sha1 (the ETag)."""
    S.corrupt = {name}
    with pytest.raises(StudioError, match=f"'{name}'.*damaged") as err:
        download_files("test/tiny", [name])
    assert "try again" in err.value.remedy.lower()
    storage = hub / "models--test--tiny"
    assert not list((storage / "blobs").glob("*")) and not (storage / "snapshots").exists()
    assert cached_file("test/tiny", name) is None
    # a good copy later is accepted (the damaged bytes were not kept to resume from)
    S.corrupt = set()
    S.requests = []
    path = download_files("test/tiny", [name])[name]
    assert sha256(path.read_bytes()) == sha256(FILES[name])
    assert all(r.range is None for r in S.requests)


def test_cancel_keeps_the_partial_file_and_the_next_call_resumes_it(hub: Path):
    S.delay = 0.02
    cancel = threading.Event()

    def progress(p: object) -> None:
        if p.done > 300_000:  # type: ignore[attr-defined]
            cancel.set()

    with pytest.raises(JobCancelled):
        download_files("test/tiny", ["model.safetensors"], progress=progress, cancel=cancel)
    partial = list((hub / "models--test--tiny" / "blobs").glob("*.incomplete"))
    assert len(partial) == 1 and 300_000 < partial[0].stat().st_size < len(FILES["model.safetensors"])
    assert cached_file("test/tiny", "model.safetensors") is None
    have = partial[0].stat().st_size
    S.delay, S.requests = 0.0, []
    seen = []
    path = download_files("test/tiny", ["model.safetensors"], progress=seen.append)["model.safetensors"]
    assert sha256(path.read_bytes()) == sha256(FILES["model.safetensors"])
    cdn_gets = [r for r in S.requests if r.server == "cdn"]
    assert [r.range for r in cdn_gets] == [f"bytes={have}-"]  # resumed, not started over
    assert seen[0].done >= have and seen[-1].done == len(FILES["model.safetensors"])
    assert not list((hub / "models--test--tiny" / "blobs").glob("*.incomplete"))


def test_a_server_that_ignores_the_range_gets_the_whole_file_again(hub: Path):
    S.delay = 0.02
    cancel = threading.Event()
    with pytest.raises(JobCancelled):
        download_files("test/tiny", ["model.safetensors"], progress=lambda p: p.done > 300_000 and cancel.set(),
                       cancel=cancel)
    S.delay, S.ignore_range, S.requests = 0.0, True, []
    path = download_files("test/tiny", ["model.safetensors"])["model.safetensors"]
    assert [r.range is not None for r in S.requests if r.server == "cdn"] == [True]  # asked, got a 200
    assert sha256(path.read_bytes()) == sha256(FILES["model.safetensors"])


def test_an_unwritable_cache_is_a_message(hub: Path, tmp_path: Path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StudioError, match="Cannot save the download in .*a part of the path is not a folder"):
        download_files("test/tiny", ["config.json"], cache_dir=tmp_path / "a-file" / "cache")


def test_cancel_before_the_transfer_starts_sends_nothing(hub: Path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(JobCancelled):
        download_files("test/tiny", list(FILES), cancel=cancel)
    assert not [r for r in S.requests if r.method == "GET"]


@pytest.mark.parametrize("lie", [
    {"X-Repo-Commit": "../../../../escaped"},
    {"ETag": '"../../../../escaped"'},           # a small file's ETag names its blob
    {"X-Linked-Etag": '"../../../../escaped"'},  # an LFS file's sha256 names its blob
    {"X-Repo-Commit": ESCAPE},
])
def test_a_hostile_endpoint_cannot_write_outside_the_cache(hub: Path, tmp_path: Path, lie: dict[str, str]):
    shutil.rmtree(ESCAPE, ignore_errors=True)
    S.lie = lie
    with pytest.raises(StudioError, match="not a Hugging Face Hub answer"):
        download_files("test/tiny", list(FILES))
    assert {p for p in _files_under(tmp_path) if hub not in p.parents} == set()
    assert not any("escaped" in str(p) for p in _files_under(tmp_path))
    assert not Path(ESCAPE).exists()


def test_import_of_a_local_folder_copies_it(tmp_path: Path):
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "model.bin").write_bytes(b"weights")
    dest = import_local(src, "whisper-tiny", tmp_path / "models")
    assert (dest / "model.bin").read_bytes() == b"weights"
    with pytest.raises(WeightsMissingError, match="does not exist"):
        import_local(tmp_path / "nothing", "x", tmp_path / "models")


def test_whisper_downloads_from_the_hub_in_hugging_face_layout_and_transcribes(hub, data):
    """The whole first-use path: resolve, download with progress into the cache, load the HF layout, transcribe."""
    import json

    from safetensors.torch import save

    from studio.engine.asr.options import TranscribeOptions
    from studio.engine.asr.transcribe import Transcriber
    from studio.hub.whisper_weights import bundled_folder, hf_name_map, load_whisper

    bundled = load_whisper("tiny.en").model
    names = hf_name_map(bundled.dims)
    weights = save({names[k]: v.contiguous() for k, v in bundled.state_dict().items() if k in names})
    config = {"num_mel_bins": 80, "max_source_positions": 1500, "d_model": 384, "encoder_attention_heads": 6,
              "encoder_layers": 4, "vocab_size": 51864, "max_target_positions": 448, "decoder_attention_heads": 6,
              "decoder_layers": 4, "_name_or_path": "openai/whisper-tiny.en"}
    generation = {"alignment_heads": [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]}
    S.repos["openai/whisper-tiny.en"] = {
        "config.json": json.dumps(config).encode(), "generation_config.json": json.dumps(generation).encode(),
        "tokenizer.json": (bundled_folder() / "tokenizer.json").read_bytes(), "model.safetensors": weights}
    seen = []
    ckpt = load_whisper("openai/whisper-tiny.en", progress=seen.append)
    assert ckpt.format == "hf" and ckpt.model.alignment_heads[2] == (2, 5)
    assert seen[-1].done == seen[-1].total >= len(weights) and any(p.filename == "model.safetensors" for p in seen)
    assert (hub / "models--openai--whisper-tiny.en" / "snapshots" / COMMIT / "model.safetensors").exists()
    text = Transcriber(ckpt).transcribe(data / "jfk.flac", TranscribeOptions(beam_size=1)).text
    assert "ask not what your country can do for you" in text.lower()
    # a second load is served from the cache, with no transfer
    S.requests = []
    load_whisper("openai/whisper-tiny.en")
    assert not [r for r in S.requests if r.method == "GET"]
