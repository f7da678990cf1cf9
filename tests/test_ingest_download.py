"""Stage 0: ingest of local files, and the download layer against a local HTTP server."""

from __future__ import annotations

import http.server
import logging
import threading
from pathlib import Path

import pytest
from astropy.io import fits

from jwstspec.errors import ConfigError, InputFileError, NetworkError
from jwstspec.download import backoff_delays, fetch, is_retryable, read_token, redacted
from jwstspec.ingest import ingest_files


def _uncal(d: Path, name: str, **keys) -> Path:
    h = fits.Header({"TELESCOP": "JWST", "INSTRUME": "MIRI", "PROGRAM": "01234", "OBSERVTN": "001", **keys})
    d.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(header=h).writeto(d / name)
    return d / name


def test_ingest_links_checks_and_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    a = _uncal(src / "sub", "jw01234001001_01101_00001_mirifushort_uncal.fits")
    b = _uncal(src, "jw01234002001_01101_00001_mirifushort_uncal.fits", OBSERVTN="002")
    dest = tmp_path / "data" / "01234"
    res = ingest_files([src], dest, program="01234", instrument="miri")
    assert sorted(p.relative_to(dest).as_posix() for p in res.paths) == [
        "Obs001/uncal/" + a.name, "Obs002/uncal/" + b.name]
    assert (dest / "Obs001/uncal" / a.name).stat().st_ino == a.stat().st_ino  # hard link, no copy
    again = ingest_files([src], dest, program="01234", instrument="miri")
    assert again.placed == 0 and again.already_present == 2
    copied = ingest_files([a], tmp_path / "c", program="01234", instrument="miri", mode="copy")
    assert copied.paths[0].stat().st_ino != a.stat().st_ino and a.exists()


@pytest.mark.parametrize(("keys", "reason"), [({"PROGRAM": "09999"}, "PROGRAM is 09999"), ({"INSTRUME": "NIRSPEC"}, "INSTRUME is NIRSPEC"),
                                              ({"TELESCOP": "HST"}, "not a JWST product")])
def test_ingest_refuses_foreign_files_and_places_nothing(tmp_path: Path, keys: dict, reason: str) -> None:
    src = tmp_path / "mine"
    _uncal(src, "jw01234001001_01101_00001_mirifushort_uncal.fits")
    bad = _uncal(src, "jw09999001001_01101_00001_mirifushort_uncal.fits", **keys)
    with pytest.raises(InputFileError) as info:
        ingest_files([src], tmp_path / "data", program="01234", instrument="miri")
    assert str(bad) in str(info.value) and reason in str(info.value)
    assert not (tmp_path / "data").exists()


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b"x" * 5000
    mode = "ok"
    seen_auth: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Handler.seen_auth.append(self.headers.get("Authorization", ""))
        if _Handler.mode == "500":
            self.send_response(503)
            self.end_headers()
            return
        if _Handler.mode == "401":
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body if _Handler.mode == "ok" else self.body[:1000])  # truncated body

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def server() -> str:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/file"
    httpd.shutdown()


def test_fetch_success_faults_and_no_partial_files(server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "SECRET-TOKEN-123"
    dest = tmp_path / "jw_uncal.fits"
    with caplog.at_level(logging.DEBUG), redacted(secret):
        _Handler.mode = "ok"
        assert fetch(server, dest, size=5000, token=secret).stat().st_size == 5000
        logging.getLogger("jwstspec.download").info("using token %s", secret)
        for mode, exc in (("500", NetworkError), ("truncated", NetworkError), ("401", ConfigError)):
            _Handler.mode = mode
            out = tmp_path / f"{mode}_uncal.fits"
            with pytest.raises(exc) as info:
                fetch(server, out, size=5000, token=secret)
            assert secret not in str(info.value) and out.name in str(info.value)
            assert not out.exists()
            assert is_retryable(info.value) == (exc is NetworkError)
    assert [p.name for p in tmp_path.iterdir()] == ["jw_uncal.fits"]  # no temporary file left
    assert _Handler.seen_auth[0] == f"token {secret}"
    assert secret not in caplog.text and "***" in caplog.text


def test_token_sources_and_backoff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAST_API_TOKEN", "env-token")
    assert read_token() == "env-token"
    f = tmp_path / "tok"
    f.write_text("file-token\n")
    assert read_token(token_file=f) == "file-token"
    with pytest.raises(ConfigError, match="download.token_file"):
        read_token(token_file=tmp_path / "none")
    delays = backoff_delays(5, base=10, factor=2, jitter=0.5, seed=1)
    assert len(delays) == 5 and all(5 * 2**i <= d <= 15 * 2**i for i, d in enumerate(delays))


@pytest.mark.network
def test_real_mast_query_lists_public_products(tmp_path: Path) -> None:
    from jwstspec.download import query_products

    items = query_products("01523", "001", instrument="miri", products=["uncal"], token=None)
    assert items and all(str(i["name"]).endswith("_uncal.fits") for i in items)
