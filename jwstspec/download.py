"""Stage 0: MAST download of one observation, safe against faults.

The query is ``jwst_mast_query`` used as a library: its own argument parser
fed an argument list, then ``mk_all_tables`` (observation query, product
query, product filter, observation-number selection), the code its
command-line tool runs, without its interactive confirmation or
``sys.exit``.  Its HTTP goes through astroquery's ``requests`` session, on
which we mount an adapter that gives every request a timeout; the MAST
server can be replaced (``mast_url``), which is how the tests point it at a
local fake MAST.  The download of each selected product is ours:

* streamed to a temporary name in the destination directory; its size is
  checked against MAST's product table, the FITS structure (not truncated,
  ``TELESCOP = JWST``) and the FITS ``CHECKSUM``/``DATASUM`` of every HDU
  are verified, and only then is it renamed to its final name (never a
  partial file under a final name);
* a file already present with the expected size and a complete FITS
  structure is not fetched again;
* network problems (connection, timeout, HTTP 5xx, truncated body, bad
  checksum) raise :class:`jwstspec.errors.NetworkError`, retryable, whose
  message names the program, observation, file and cause; bad input
  (program number, instrument, a token MAST refuses) raises ``ConfigError``,
  never retried (:func:`is_retryable`).  Retries are the flow's task
  retries with exponential backoff and jitter (:func:`backoff_delays`);
  :func:`retry_call` is the same policy for use outside Prefect;
* the MAST token (argument, ``token_file`` or ``MAST_API_TOKEN``) is never
  logged: a logging filter redacts it while the download runs, and no
  message or exception text includes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from jwstspec.errors import ConfigError, InputFileError, JwstspecError, NetworkError, StageError
from jwstspec.fileio import TMP_PREFIX, atomic_path
from jwstspec.fitscheck import check_fits, verify_checksums
from jwstspec.msa import MSA_SUFFIX, is_metadata_name

log = logging.getLogger("jwstspec.download")

MAST_SERVER = "https://mast.stsci.edu"
CHUNK = 1 << 20
#: Observation modes queried per instrument (spectroscopy only), ``jwst_mast_query --obsmode``.
OBS_MODES: dict[str, tuple[str, ...]] = {
    "miri": ("ifu", "slit", "slitless"),
    "nirspec": ("ifu", "slit", "msa", "bots"),
}
_QUERY_LOCK = threading.Lock()  # jwst_mast_query prints; stdout capture is process-wide
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
T = TypeVar("T")


@dataclasses.dataclass
class Product:
    """One product of MAST's product table: file name, data URI, size in bytes."""

    name: str
    uri: str
    size: int | None


@dataclasses.dataclass
class DownloadResult:
    """Products of one observation: downloaded now, or already present and valid."""

    paths: list[Path]
    downloaded: list[Path]
    present: list[Path]


# ---------------------------------------------------------------- token
def read_token(token: str | None = None, token_file: Path | None = None) -> str | None:
    """The MAST token: explicit, from a file, or ``MAST_API_TOKEN`` (None for public data)."""
    if token:
        return token.strip()
    if token_file is not None:
        p = Path(token_file).expanduser()
        if not p.is_file():
            raise ConfigError("download.token_file", f"{p} is not a file")
        text = p.read_text().strip()
        if not text:
            raise ConfigError("download.token_file", f"{p} is empty")
        return text
    return os.environ.get("MAST_API_TOKEN", "").strip() or None


_SECRETS: set[str] = set()
_FACTORY_LOCK = threading.Lock()
_factory_installed = False


def _redact_text(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def _redact_record(record: logging.LogRecord, secrets: Sequence[str]) -> None:
    """Replace every secret in a record's message (and formatted exception) by ``***``."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error handling
        return
    if any(s in message for s in secrets):
        for s in secrets:
            message = message.replace(s, "***")
        record.msg, record.args = message, None
    if record.exc_text and any(s in record.exc_text for s in secrets):
        for s in secrets:
            record.exc_text = record.exc_text.replace(s, "***")


def register_secret(secret: str | None) -> None:
    """Redact ``secret`` from every log record created from now on in this process.

    A wrapper around the logging record factory redacts records when they
    are created, so every logger and every handler (including ones added
    later, such as Prefect's) only ever sees ``***``.
    """
    global _factory_installed
    if not secret or len(secret) < 4:  # too short to redact without mangling ordinary text
        return
    with _FACTORY_LOCK:
        _SECRETS.add(secret)
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _SECRETS:
                _redact_record(record, tuple(_SECRETS))
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True


class RedactFilter(logging.Filter):
    """Replace a secret by ``***`` in every record passing through a logger or handler."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the secret from ``record`` in place; keep every record."""
        if self.secret:
            _redact_record(record, (self.secret,))
        return True


@contextlib.contextmanager
def redacted(secret: str | None, loggers: Sequence[str] = ("", "jwstspec", "jwstspec.download", "astroquery", "urllib3", "requests", "prefect")) -> Iterator[None]:
    """Redact ``secret`` from all log records (:func:`register_secret`), and filter these loggers and handlers for the block.

    The filters also catch records that were created elsewhere (e.g. by a
    custom record factory installed after ours) and pass through them.
    """
    if not secret:
        yield
        return
    register_secret(secret)
    flt = RedactFilter(secret)
    targets: list[logging.Filterer] = []
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


# ---------------------------------------------------------------- retry policy
def backoff_delays(retries: int, base: float = 10.0, factor: float = 2.0, jitter: float = 0.5, seed: int | None = None) -> list[float]:
    """Delays before each retry: ``base * factor**i`` times a random factor in ``[1 - jitter, 1 + jitter]``."""
    if retries < 0 or base < 0 or factor < 1 or not 0 <= jitter < 1:
        raise ValueError("backoff_delays needs retries >= 0, base >= 0, factor >= 1, 0 <= jitter < 1")
    rng = random.Random(seed)
    return [base * factor**i * (1 + jitter * (2 * rng.random() - 1)) for i in range(retries)]


def is_retryable(exc: BaseException) -> bool:
    """Network failures are retried; bad input (and any other jwstspec error) never is."""
    if isinstance(exc, NetworkError):
        return True
    if isinstance(exc, JwstspecError):
        return False
    return isinstance(exc, (ConnectionError, TimeoutError))


def retry_call(fn: Callable[[], T], *, retries: int = 4, base: float = 10.0, factor: float = 2.0, jitter: float = 0.5,
               sleep: Callable[[float], Any] = time.sleep, seed: int | None = None) -> T:
    """Call ``fn``; on a retryable failure wait (:func:`backoff_delays`) and call again.

    The Prefect flow uses task retries with the same policy; this is for
    use outside Prefect (and for the tests).  The last failure is raised.
    """
    delays = backoff_delays(retries, base, factor, jitter, seed)
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == retries or not is_retryable(exc):
                raise
            log.warning("attempt %d of %d failed (%s); retrying in %.1f s", attempt + 1, retries + 1, exc, delays[attempt])
            sleep(delays[attempt])
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- query
def _query_mast_class() -> type:
    """``jwst_mast_query``'s query class.

    ``jwst_mast_query`` compares version strings lexicographically and
    refuses astroquery 0.4.10 and later ("0.4.11" < "0.4.2"); we present a
    version that passes the check only while importing it, and only when the
    real version is at least 0.4.2.
    """
    import astroquery
    from packaging.version import Version

    real = astroquery.__version__
    if Version(real) >= Version("0.4.2"):
        astroquery.__version__ = "0.4.99"
    try:
        from jwst_mast_query.jwst_query import query_mast
    finally:
        astroquery.__version__ = real
    return query_mast


def _timeout_adapter(timeout: float) -> Any:
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        """Gives every request without a timeout (astroquery's MAST portal calls) this one."""

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().send(request, *args, **kwargs)

    return TimeoutAdapter()


def _point_at(query: Any, server: str, timeout: float) -> None:
    """Point a ``query_mast`` at ``server`` (same endpoints as MAST) with request timeouts."""
    server = server.rstrip("/")
    portal = query.JwstObs._portal_api_connection
    portal.MAST_REQUEST_URL = server + "/portal_jwst/Mashup/Mashup.asmx/invoke"
    portal.MAST_DOWNLOAD_URL = server + "/jwst/api/v0.1/download/file"
    portal.COLUMNS_CONFIG_URL = server + "/portal_jwst/Mashup/Mashup.asmx/columnsconfig"
    portal.MAST_BUNDLE_URL = server + "/jwst/api/v0.1/download/bundle"
    query.JwstObs._auth_obj.SESSION_INFO_URL = server + "/whoami"
    adapter = _timeout_adapter(timeout)
    query.JwstObs._session.mount("http://", adapter)
    query.JwstObs._session.mount("https://", adapter)


def _is_timeout(exc: BaseException) -> bool:
    """A timeout, also when requests reports a read timeout while streaming as a ConnectionError."""
    import requests
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    if isinstance(exc, (requests.Timeout, TimeoutError, Urllib3Timeout)):
        return True
    return any(isinstance(a, Urllib3Timeout) for a in getattr(exc, "args", ()))


def _network_cause(exc: BaseException) -> str | None:
    """A short, token-free cause for a network-type exception, or None if it is not one."""
    import requests

    try:
        from astroquery.exceptions import RemoteServiceError
    except ImportError:  # pragma: no cover
        RemoteServiceError = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if _is_timeout(exc):
        return "timed out"
    if isinstance(exc, (requests.RequestException, ConnectionError, TimeoutError)):
        return f"connection failed ({type(exc).__name__})"
    if isinstance(exc, RemoteServiceError):
        return "MAST reported a service error"
    return None


def _http_status(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


def query_products(program: str, observation: str, *, instrument: str, products: Sequence[str] = ("uncal",),
                   all_products: bool = False, token: str | None = None, mast_url: str | None = None,
                   timeout: float = 60.0) -> tuple[list[Product], str]:
    """Products of one observation in MAST's product table, through ``jwst_mast_query``.

    Returns
    -------
    products : list of Product
        Name, data URI and size of each selected product.
    download_url : str
        The base download URL (``<url>?uri=<data URI>``).

    Raises
    ------
    NetworkError
        MAST unreachable, timed out or failing (retryable).
    ConfigError
        MAST refused the token.
    """
    from astroquery.exceptions import LoginError

    what = f"program {program} observation {observation}"
    query_cls = _query_mast_class()
    inst = instrument.lower()
    argv = ["--propID", program, "--obsnums", str(int(observation)), "--instrument", inst,
            "--obsmode", *OBS_MODES.get(inst, ("ifu",)), "--lookbacktime", "1000000",
            "--filetypes", *(["fits"] if all_products else list(products)),
            "--skip_propID2outsubdir", "--outrootdir", os.devnull, "--skip_check_if_outfile_exists"]
    out = io.StringIO()
    with _QUERY_LOCK, contextlib.redirect_stdout(out):
        try:
            q = query_cls()
            _point_at(q, mast_url or MAST_SERVER, timeout)
            args = q.define_options().parse_args(argv)
            args.configfile = None  # never read $JWST_QUERY_CFGFILE
            args.token = token
            q.get_arguments(args)
            q.params["token"] = token
            q.login(token=token)
            q.set_outrootdir()
            q.mk_all_tables(showtables=False)
        except LoginError:
            raise ConfigError("download.token_file", f"MAST refused the token for {what} (invalid or expired)") from None
        except SystemExit:
            raise StageError(f"jwst_mast_query rejected the query arguments for {what}") from None
        except Exception as exc:
            if _http_status(exc) in (401, 403):
                raise ConfigError("download.token_file", f"MAST refused the query of {what} (HTTP {_http_status(exc)}): token missing, expired or without access") from None
            cause = _network_cause(exc)
            if cause is None:
                raise StageError(f"MAST query of {what} failed inside jwst_mast_query ({type(exc).__name__})") from None
            raise NetworkError(f"MAST query of {what} failed: {cause}") from None
        finally:
            text = _redact_text(out.getvalue())
            if token:
                text = text.replace(token, "***")
            for line in text.splitlines():
                if line.strip():
                    log.debug("jwst_mast_query: %s", line)
    table = q.productTable.t
    selected = [] if q.ix_selected_products is None else list(q.ix_selected_products)
    items = []
    seen: set[str] = set()
    for ix in selected:
        row = table.loc[ix]
        name = str(row["productFilename"])
        if name in seen:  # a file shared by exposures (MSA metadata) is listed once per exposure
            continue
        seen.add(name)
        if not _NAME_OK.match(name) or name.startswith(TMP_PREFIX):
            raise NetworkError(f"MAST listed an unusable file name for {what}: {name!r}")
        size = row.get("size")
        try:
            size = int(size) if size is not None and size == size and int(size) > 0 else None
        except (TypeError, ValueError):
            size = None
        items.append(Product(name, str(row["dataURI"]), size))
    return items, q.JwstObs._portal_api_connection.MAST_DOWNLOAD_URL


# ---------------------------------------------------------------- fetch
def _validate(path: Path, size: int | None, name: str, *, checksums: bool) -> None:
    """Size, FITS structure and (optionally) checksums of a downloaded file; NetworkError if wrong."""
    have = path.stat().st_size
    if size is not None and have != size:
        raise NetworkError(f"{name}: truncated download ({have} of {size} bytes)")
    if name.endswith(".fits"):
        try:
            check_fits(path, telescope=None if is_metadata_name(name) else "JWST")
            if checksums:
                verify_checksums(path)
        except InputFileError as exc:
            raise NetworkError(f"{name}: corrupt download ({exc.reason})") from None


def is_present(path: Path, size: int | None) -> bool:
    """A file already in place with the expected size and a complete FITS structure."""
    if not path.is_file() or (size is not None and path.stat().st_size != size):
        return False
    if path.name.endswith(".fits"):
        try:
            check_fits(path, telescope=None if is_metadata_name(path.name) else "JWST")
        except InputFileError:
            return False
    return True


def fetch(url: str, dest: Path, *, size: int | None = None, token: str | None = None, timeout: float = 60.0,
          checksums: bool = True) -> Path:
    """Stream ``url`` to a temporary file beside ``dest``; verify it; rename it to ``dest``.

    Raises
    ------
    NetworkError
        Connection problems, timeouts, HTTP errors, a truncated body, a size
        or checksum mismatch (the message names the file, never the token).
    ConfigError
        HTTP 401/403: the token is missing, expired or has no access.
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
                with open(tmp, "wb") as fh:
                    for block in resp.iter_content(CHUNK):
                        fh.write(block)
                expected = size
                if expected is None and resp.headers.get("Content-Length", "").isdigit():
                    expected = int(resp.headers["Content-Length"])
                _validate(tmp, expected, name, checksums=checksums)
    except requests.RequestException as exc:
        cause = "timed out" if _is_timeout(exc) else f"connection failed ({type(exc).__name__})"
        raise NetworkError(f"{name}: {cause} while downloading") from None
    return Path(dest)


# ---------------------------------------------------------------- observation
def download_observation(program: str, observation: str, dest_dir: Path, *, products: Sequence[str] = ("uncal",),
                         all_products: bool = False, instrument: str | None = None, token: str | None = None,
                         token_file: Path | None = None, mast_url: str | None = None, timeout: float = 60) -> DownloadResult:
    """Download one observation's products into ``dest_dir``.

    Parameters
    ----------
    program : str
        Five-digit program number.
    observation : str
        Observation number (``"1"``, ``"001"``).
    dest_dir : Path
        Where the files go (created if needed).
    products : sequence of str
        Product suffixes (``uncal``, ``rate``, ``cal``, ``x1d`` ...).  NIRSpec
        ``uncal`` brings the MSA metadata files (``_msa.fits``) of MOS
        exposures with it.
    all_products : bool
        Every FITS product of the observation instead.
    instrument : str
        ``miri`` or ``nirspec`` (case-insensitive).
    token, token_file : optional
        The MAST token, or a file holding it; default ``MAST_API_TOKEN``.
    mast_url : str, optional
        Base URL of the MAST server (default https://mast.stsci.edu).
    timeout : float
        Seconds without an answer before a request fails.

    Returns
    -------
    DownloadResult
        All product paths; which were downloaded now and which were already present.

    Raises
    ------
    NetworkError
        Retryable: the message names the program, observation, file and cause.
    ConfigError
        Bad program/observation/instrument, a token MAST refuses, or no product.
    """
    program = str(program).strip()
    if not re.fullmatch(r"\d{5}", program):
        raise ConfigError("program", f"{program!r} is not a five-digit program number")
    obs = str(observation).strip()
    if not re.fullmatch(r"\d{1,3}", obs):
        raise ConfigError("observation", f"{obs!r} is not an observation number of up to three digits")
    obs = obs.zfill(3)
    if not instrument or instrument.lower() not in OBS_MODES:
        raise ConfigError("instrument", f"{instrument!r} is not one of {', '.join(sorted(OBS_MODES))}")
    suffixes = [p.strip().lstrip("_").removesuffix(".fits") for p in products]
    if not all_products and (not suffixes or not all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in suffixes)):
        raise ConfigError("download.products", f"{list(products)!r} are not product suffixes such as 'uncal'")
    if not all_products and instrument.lower() == "nirspec" and "uncal" in suffixes and MSA_SUFFIX not in suffixes:
        suffixes.append(MSA_SUFFIX)  # MOS exposures name their MSA metadata file (MSAMETFL): it comes with them
    secret = read_token(token, token_file)
    dest_dir = Path(dest_dir)
    what = f"program {program} observation {obs}"
    _query_mast_class()  # import astroquery first so that its loggers exist and get the redaction filter
    with redacted(secret):
        items, base = query_products(program, obs, instrument=instrument, products=suffixes, all_products=all_products,
                                     token=secret, mast_url=mast_url, timeout=timeout)
        if not items:
            wanted = "FITS" if all_products else "/".join(suffixes)
            raise ConfigError("observation", f"MAST lists no {wanted} product for {what} ({instrument.upper()}); "
                              "check the program, observation and instrument (proprietary data need a token)")
        dest_dir.mkdir(parents=True, exist_ok=True)
        downloaded, present = [], []
        for i, item in enumerate(items, 1):
            dest = dest_dir / item.name
            if is_present(dest, item.size):
                present.append(dest)
                continue
            log.info("downloading %s (%d of %d, %s bytes)", item.name, i, len(items), item.size if item.size is not None else "?")
            try:
                fetch(f"{base}?uri={item.uri}", dest, size=item.size, token=secret, timeout=timeout)
            except NetworkError as exc:
                raise NetworkError(f"download of {what} failed: {exc}") from None
            except ConfigError as exc:
                raise ConfigError(exc.field, f"{what}: {exc.reason}") from None
            downloaded.append(dest)
    log.info("%s: %d file(s) downloaded, %d already present", what, len(downloaded), len(present))
    return DownloadResult([dest_dir / it.name for it in items], downloaded, present)


def place_uncal(paths: Sequence[Path], uncal_dir: Path, *, program: str, instrument: str, observation: str) -> list[Path]:
    """Link the observation's downloaded ``*_uncal.fits`` from the staging area into its ``uncal/`` directory.

    A NIRSpec MOS exposure's MSA metadata file (``MSAMETFL``) is linked
    beside it; a missing one is an :class:`InputFileError` naming the
    exposure and the file.

    The staging area (``[download] directory``, default
    ``<data_dir>/<program>/download``) keeps everything MAST returned
    (with ``all_products``: rate, cal, x1d ...); only the raw exposures
    enter the layout, as hard links (a symbolic link across file systems),
    checked like ingested files (:func:`jwstspec.ingest.ingest_files`).

    Returns
    -------
    list of Path
        The uncal files in ``uncal_dir`` (none when MAST returned none).

    Raises
    ------
    InputFileError
        An exposure that is not valid, or whose MSA metadata file MAST did
        not return.
    """
    from jwstspec.ingest import ingest_files

    uncal = [Path(p) for p in paths if Path(p).name.endswith("_uncal.fits")]
    if not uncal:
        return []
    result = ingest_files(uncal, Path(uncal_dir), program=program, instrument=instrument, mode="link",
                          observations=[observation], destination=lambda _obs, name: Path(uncal_dir) / name,
                          suffixes=["uncal"])
    return [p for p in result.paths if not is_metadata_name(p.name)]
