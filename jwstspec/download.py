"""Stage 0: MAST download of a program's observation, safe against faults.

The query is ``jwst_mast_query`` used as a library (its own argument
parser fed an argument list, then ``mk_all_tables``: the same code its
command-line tool runs, without its interactive confirmation or
``sys.exit``).  The download of each selected product is ours:

* streamed to a temporary name in the destination directory, its size
  checked against MAST's product table, then renamed (never a partial file
  under a final name);
* a file already present with the expected size is not fetched again;
* network problems raise :class:`jwstspec.errors.NetworkError` (retryable:
  the flow's task retries with exponential backoff and jitter, see
  :func:`backoff_delays`), bad input raises ``ConfigError`` (never retried);
* the MAST token (``MAST_API_TOKEN`` or a file) is never logged: a logging
  filter redacts it from every record, and messages never include it.

Network tests are marked ``network`` and skipped offline; the fetch layer
is tested against a local HTTP server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from jwstspec.errors import ConfigError, InputFileError, NetworkError
from jwstspec.fileio import atomic_path

log = logging.getLogger("jwstspec.download")

MAST_DOWNLOAD_URL = "https://mast.stsci.edu/api/v0.1/Download/file"
CHUNK = 1 << 20


@dataclasses.dataclass
class DownloadResult:
    """Products of one observation: downloaded now, or already present and valid."""

    paths: list[Path]
    downloaded: list[Path]
    present: list[Path]


def read_token(token: str | None = None, token_file: Path | None = None) -> str | None:
    """The MAST token: explicit, from a file, or ``MAST_API_TOKEN`` (None for public data)."""
    if token:
        return token.strip()
    if token_file is not None:
        p = Path(token_file)
        if not p.is_file():
            raise ConfigError("download.token_file", f"{p} is not a file")
        text = p.read_text().strip()
        if not text:
            raise ConfigError("download.token_file", f"{p} is empty")
        return text
    return os.environ.get("MAST_API_TOKEN") or None


class RedactFilter(logging.Filter):
    """Replace a secret by ``***`` in every record passing through a logger."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            message = record.getMessage()
            if self.secret in message:
                record.msg = message.replace(self.secret, "***")
                record.args = None
        return True


@contextlib.contextmanager
def redacted(secret: str | None, loggers: Sequence[str] = ("", "jwstspec", "urllib3", "requests")) -> Iterator[None]:
    """Redact ``secret`` from the records of these loggers (and their handlers) for the block.

    (Not ``astroquery``: creating its logger before astroquery is imported breaks that import.)
    """
    if not secret:
        yield
        return
    flt = RedactFilter(secret)
    targets = []
    for name in loggers:
        lg = logging.getLogger(name)
        targets.append(lg)
        targets += list(lg.handlers)
    for t in targets:
        t.addFilter(flt)
    try:
        yield
    finally:
        for t in targets:
            t.removeFilter(flt)


def backoff_delays(retries: int, base: float = 10.0, factor: float = 2.0, jitter: float = 0.5, seed: int | None = None) -> list[float]:
    """Exponential backoff with multiplicative jitter: ``base * factor**i * (1 ± jitter)``."""
    rng = random.Random(seed)
    return [base * factor**i * (1 + jitter * (2 * rng.random() - 1)) for i in range(retries)]


def is_retryable(exc: BaseException) -> bool:
    """Network failures are retried; bad input never is."""
    if isinstance(exc, NetworkError):
        return True
    if isinstance(exc, (ConfigError, InputFileError)):
        return False
    return isinstance(exc, (ConnectionError, TimeoutError))


def fetch(url: str, dest: Path, *, size: int | None = None, token: str | None = None, timeout: float = 60.0) -> Path:
    """Stream ``url`` to ``dest`` through a temporary file; check the size; rename.

    Raises
    ------
    NetworkError
        Connection problems, HTTP errors, a truncated body or a size mismatch
        (the message names the file, never the token).
    """
    import requests

    headers = {"Authorization": f"token {token}"} if token else {}
    name = Path(dest).name
    try:
        with requests.get(url, headers=headers, stream=True, timeout=timeout) as resp:
            if resp.status_code in (401, 403):
                raise ConfigError("download.token_file", f"MAST refused {name} (HTTP {resp.status_code}): token missing, expired or without access")
            if resp.status_code >= 400:
                raise NetworkError(f"{name}: HTTP {resp.status_code} from MAST")
            with atomic_path(dest) as tmp:
                written = 0
                with open(tmp, "wb") as fh:
                    for block in resp.iter_content(CHUNK):
                        fh.write(block)
                        written += len(block)
                expected = size if size is not None else int(resp.headers.get("Content-Length") or -1)
                if expected >= 0 and written != expected:
                    raise NetworkError(f"{name}: truncated download ({written} of {expected} bytes)")
    except requests.RequestException as exc:
        raise NetworkError(f"{name}: {type(exc).__name__} while downloading") from None
    return Path(dest)


def query_products(program: str, observation: str, *, instrument: str | None, products: Sequence[str],
                   token: str | None) -> list[dict[str, object]]:
    """Products of one observation from MAST through ``jwst_mast_query`` (name, URI, size)."""
    from jwst_mast_query.jwst_query import query_mast

    q = query_mast()
    parser = q.define_options()
    argv = [program, observation, "--filetypes", *products, "--lookbacktime", "100000"]
    if instrument:
        argv += ["--instrument", instrument.lower()]
    q.get_arguments(parser.parse_args(argv))
    try:
        q.params["token"] = token
        q.login(token=token)
        q.set_outrootdir()
        if q.mk_all_tables(showtables=False):
            return []
    except SystemExit:
        return []
    except Exception as exc:
        raise NetworkError(f"MAST query of program {program} observation {observation} failed ({type(exc).__name__})") from None
    table = q.productTable.t.loc[q.ix_selected_products]
    return [{"name": str(r["productFilename"]), "uri": str(r["dataURI"]), "size": int(r["size"]) if r.get("size") == r.get("size") else None}
            for _, r in table.iterrows()]


def download_observation(program: str, observation: str, dest_dir: Path, *, products: Sequence[str] = ("uncal",),
                         all_products: bool = False, instrument: str | None = None, token: str | None = None,
                         token_file: Path | None = None, mast_url: str | None = None, timeout: float = 60) -> DownloadResult:
    """Download one observation's products into ``dest_dir`` (see module docstring)."""
    secret = read_token(token, token_file)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    wanted = ["all"] if all_products else list(products)
    with redacted(secret):
        items = query_products(program, observation, instrument=instrument, products=wanted, token=secret)
        base = mast_url or MAST_DOWNLOAD_URL
        downloaded, present = [], []
        for item in items:
            dest = dest_dir / str(item["name"])
            size = item["size"]
            if dest.is_file() and (size is None or dest.stat().st_size == size):
                present.append(dest)
                continue
            fetch(f"{base}?uri={item['uri']}", dest, size=size, token=secret, timeout=timeout)  # type: ignore[arg-type]
            downloaded.append(dest)
            log.info("downloaded %s", dest.name)
    log.info("program %s observation %s: %d downloaded, %d already present", program, observation, len(downloaded), len(present))
    return DownloadResult(downloaded + present, downloaded, present)
