"""MAST download through the real jwst_mast_query/astroquery code, against a fake MAST on 127.0.0.1.

Faults (HTTP 5xx, stalls, truncated bodies, bad checksums, refused tokens)
are injected by :mod:`tests.mast_server`; the tests assert retries and
their backoff, the final message, that no partial or temporary file is
left, and that the token appears in no log record and no exception.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from jwstspec.download import (
    RedactFilter,
    backoff_delays,
    download_observation,
    is_retryable,
    read_token,
    redacted,
    retry_call,
)
from jwstspec.errors import ConfigError, InputFileError, NetworkError, StageError
from jwstspec.fileio import TMP_PREFIX
from tests.mast_server import FakeMast

TOKEN = "s3cr3t-MAST-token-0123456789abcdef"
TIMEOUT = 0.5  # seconds; only the stall faults wait this long


@pytest.fixture
def mast(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMast]:
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    with FakeMast() as fake:
        fake.add_exposure("01234", "001", exposure="02101_00001")
        fake.add_exposure("01234", "001", exposure="02101_00002", detector="mirifulong")
        fake.add_exposure("01234", "002", exposure="02101_00001")  # another observation
        fake.add_exposure("01234", "001", mode="IMAGE", exposure="02101_00003", detector="mirimage")  # imaging: not queried
        fake.add_exposure("01234", "001", exposure="02101_00004", detector="gs-fg")  # guide star: excluded
        yield fake


def _download(fake: FakeMast, dest: Path, **kw: object):
    kw.setdefault("instrument", "miri")
    return download_observation("01234", "1", dest, mast_url=fake.url, timeout=TIMEOUT, **kw)  # type: ignore[arg-type]


def _names(paths: list[Path]) -> list[str]:
    return sorted(p.name for p in paths)


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)] if root.exists() else []


EXPECTED = ["jw01234001001_02101_00001_mirifushort_uncal.fits", "jw01234001001_02101_00002_mirifulong_uncal.fits"]


def test_downloads_the_observation_products_once(mast: FakeMast, tmp_path: Path) -> None:
    res = _download(mast, tmp_path / "dl")
    assert _names(res.paths) == EXPECTED and _names(res.downloaded) == EXPECTED and not res.present
    for p in res.paths:
        assert p.read_bytes() == mast.files[p.name]
    assert sorted(mast.downloads()) == EXPECTED
    # a second run fetches nothing
    again = _download(mast, tmp_path / "dl")
    assert _names(again.present) == EXPECTED and not again.downloaded and len(mast.downloads()) == 2
    # a file truncated under its final name (by another tool) is fetched again
    broken = tmp_path / "dl" / EXPECTED[0]
    broken.write_bytes(broken.read_bytes()[:5000])
    third = _download(mast, tmp_path / "dl")
    assert _names(third.downloaded) == EXPECTED[:1] and broken.read_bytes() == mast.files[EXPECTED[0]]


def test_product_filters(mast: FakeMast, tmp_path: Path) -> None:
    res = _download(mast, tmp_path / "a", products=("rate", "cal"))
    assert _names(res.paths) == sorted(n.replace("uncal", s) for n in EXPECTED for s in ("rate", "cal"))
    every = _download(mast, tmp_path / "b", all_products=True)
    assert len(every.paths) == 6 and all("_gs-" not in p.name and "mirimage" not in p.name for p in every.paths)


def test_retries_with_backoff_then_success(mast: FakeMast, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    mast.fail("query", "500")
    mast.fail("download", "500", "truncate", "badchecksum", "timeout")
    slept: list[float] = []
    with caplog.at_level(logging.WARNING, logger="jwstspec.download"):
        res = retry_call(lambda: _download(mast, tmp_path / "dl"), retries=5, base=10, factor=2, jitter=0.5,
                         sleep=slept.append, seed=7)
    assert _names(res.paths) == EXPECTED
    assert slept == pytest.approx(backoff_delays(5, 10, 2, 0.5, seed=7))  # 5 failures, 5 waits
    assert mast.downloads().count(EXPECTED[0]) == 5  # four faults, then the good copy
    causes = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    for cause in ("HTTP 503", "connection failed", "checksum mismatch in SCI", "timed out"):
        assert any(cause in c for c in causes), cause
    assert all(p.read_bytes() == mast.files[p.name] for p in res.paths) and not _leftovers(tmp_path)


@pytest.mark.parametrize(("kind", "fault", "cause"), [
    ("download", "500", "HTTP 503 from MAST"),
    ("download", "truncate", "connection failed"),
    ("download", "badchecksum", "corrupt download (checksum mismatch in SCI (corrupted file))"),
    ("download", "timeout", "timed out while downloading"),
    ("query", "500", "MAST query of program 01234 observation 001 failed: HTTP 503"),
    ("query", "timeout", "MAST query of program 01234 observation 001 failed: timed out"),
    ("query", "error", "MAST query of program 01234 observation 001 failed: MAST reported a service error"),
])
def test_final_failure_names_observation_and_cause(mast: FakeMast, tmp_path: Path, kind: str, fault: str, cause: str) -> None:
    mast.fail(kind, *[fault] * 3)
    dest = tmp_path / "dl"
    with pytest.raises(NetworkError) as info:
        retry_call(lambda: _download(mast, dest), retries=2, base=0, sleep=lambda s: None)
    text = str(info.value)
    assert cause in text and "program 01234 observation 001" in text and "\n" not in text
    if kind == "download":
        assert text.startswith(f"download of program 01234 observation 001 failed: {EXPECTED[0]}: ")
    assert is_retryable(info.value) and info.value.exit_code == 4
    assert not (dest.exists() and any(dest.iterdir()))  # no partial file, no temporary
    assert len(mast.faults[kind]) == 0  # three attempts were made


def _debug(caplog: pytest.LogCaptureFixture):
    """jwstspec's own DEBUG records too (a flow run earlier in this process set the ``jwstspec`` logger to INFO)."""
    return caplog.at_level(logging.DEBUG, logger="jwstspec")


def test_token_is_used_and_never_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MAST_API_TOKEN", TOKEN)
    with FakeMast(token=TOKEN, proprietary=True) as fake, caplog.at_level(logging.DEBUG), _debug(caplog):
        fake.add_exposure("01234", "001")
        fake.fail("download", "500")
        res = retry_call(lambda: _download(fake, tmp_path / "dl"), retries=1, base=0, sleep=lambda s: None)
        assert len(res.paths) == 1 and set(fake.auth_headers) == {f"token {TOKEN}"}
    # once read, the token is redacted process-wide, also after the download and by loggers created later
    logging.getLogger("some.new.logger").warning("a careless message with %s", TOKEN)
    assert any("jwst_mast_query:" in r.getMessage() for r in caplog.records)  # its output is logged
    assert any(r.getMessage() == "a careless message with ***" for r in caplog.records)
    assert not [r for r in caplog.records if TOKEN in r.getMessage()] and TOKEN not in caplog.text


def test_token_redaction_filter(caplog: pytest.LogCaptureFixture) -> None:
    other = "another-secret-value-42"
    with caplog.at_level(logging.DEBUG), redacted(other):
        logging.getLogger("jwstspec.download").info("token=%s", other)
        logging.getLogger("urllib3.connectionpool").debug(f"cookie mast_token={other}")
        logging.getLogger("some.library").warning("header %s", {"Authorization": f"token {other}"})
    assert other not in caplog.text and caplog.text.count("***") == 3
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("later").error("still %s", other)  # after the block: the record factory
    assert caplog.text.count("***") == 1 and other not in caplog.text
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %d", (TOKEN, 3), None)
    assert RedactFilter(TOKEN).filter(record) and record.getMessage() == "*** and 3"


def test_refused_tokens_are_not_retryable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    with FakeMast(token="the-right-one", proprietary=True) as fake, caplog.at_level(logging.DEBUG), _debug(caplog):
        fake.add_exposure("01234", "001")
        with pytest.raises(ConfigError) as wrong:  # /whoami says anonymous: expired or wrong token
            retry_call(lambda: _download(fake, tmp_path / "a", token=TOKEN), retries=3, base=0, sleep=lambda s: None)
        with pytest.raises(ConfigError) as none:  # public query works, the file needs a token
            _download(fake, tmp_path / "b")
        assert len(fake.downloads()) == 1  # no retry of either
    assert "MAST refused the token for program 01234 observation 001" in str(wrong.value)
    assert "HTTP 401" in str(none.value) and "observation 001" in str(none.value)
    assert not is_retryable(wrong.value) and not is_retryable(none.value)
    assert TOKEN not in str(wrong.value) and TOKEN not in caplog.text
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAST_API_TOKEN", " env-token\n")
    assert read_token() == "env-token"
    f = tmp_path / "tok"
    f.write_text("file-token\n")
    assert read_token(token_file=f) == "file-token" and read_token("given", f) == "given"
    with pytest.raises(ConfigError, match="download.token_file"):
        read_token(token_file=tmp_path / "none")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        read_token(token_file=tmp_path / "empty")
    monkeypatch.delenv("MAST_API_TOKEN")
    assert read_token() is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"program": "1234"}, "program"), ({"observation": "1a"}, "observation"), ({"instrument": "nircam"}, "instrument"),
    ({"instrument": None}, "instrument"), ({"products": ("uncal.fits?",)}, "download.products"),
    ({"observation": "9"}, "observation"),  # MAST lists nothing
])
def test_bad_input_is_a_config_error(mast: FakeMast, tmp_path: Path, kwargs: dict, field: str) -> None:
    args = {"program": "01234", "observation": "1", "instrument": "miri", **kwargs}
    with pytest.raises(ConfigError) as info:
        download_observation(args.pop("program"), args.pop("observation"), tmp_path / "d", mast_url=mast.url, timeout=TIMEOUT, **args)
    assert info.value.field == field and not is_retryable(info.value)
    assert not mast.downloads()


def test_backoff_and_retry_condition() -> None:
    assert backoff_delays(4, base=10, factor=2, jitter=0) == [10, 20, 40, 80]
    delays = backoff_delays(6, base=10, factor=2, jitter=0.5, seed=1)
    assert all(5 * 2**i <= d <= 15 * 2**i for i, d in enumerate(delays))
    assert delays == backoff_delays(6, base=10, factor=2, jitter=0.5, seed=1) != backoff_delays(6, seed=2)
    with pytest.raises(ValueError):
        backoff_delays(3, jitter=1.5)
    assert is_retryable(NetworkError("x")) and is_retryable(TimeoutError()) and is_retryable(ConnectionResetError())
    assert not any(is_retryable(e) for e in (ConfigError("f", "r"), InputFileError("p", "r"), StageError("s"), ValueError()))
    calls: list[int] = []

    def bad_input() -> None:
        calls.append(1)
        raise ConfigError("program", "nope")

    with pytest.raises(ConfigError):
        retry_call(bad_input, retries=5, sleep=lambda s: None)
    assert len(calls) == 1


@pytest.mark.network
def test_real_mast_lists_public_products(tmp_path: Path) -> None:
    from jwstspec.download import query_products

    items, base = query_products("01523", "001", instrument="miri", products=["uncal"])
    assert items and all(i.name.endswith("_uncal.fits") and i.size for i in items) and base.startswith("https://")


def test_download_stages_in_the_configured_directory_and_links_uncal(mast: FakeMast, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`[download] directory` is the staging area: everything MAST gave stays there, uncal files are linked into the layout."""
    import jwstspec.download as dl
    from flows.tasks import download_task
    from jwstspec.config import validate_config
    from jwstspec.layout import Layout

    monkeypatch.setattr(dl, "MAST_SERVER", mast.url)  # the flow's task names no server: point the default at the fake
    data = tmp_path / "data"
    data.mkdir()
    config = validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": str(data),
                              "download": {"directory": str(tmp_path / "staging"), "products": ["uncal", "rate"]}})
    layout = Layout.from_config(config)
    assert layout.download_dir == tmp_path / "staging"
    args = dict(program="01234", observation="001", output_dir=str(layout.download_dir), products=["uncal", "rate"],
                all_products=False, instrument="MIRI", token_file=None, uncal_dir=str(layout.uncal_dir("001")))
    paths = download_task.fn(**args)
    rates = [n.replace("uncal", "rate") for n in EXPECTED]
    assert _names([Path(p) for p in paths]) == sorted(EXPECTED + rates)
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == sorted(EXPECTED + rates)
    placed = sorted(layout.uncal_dir("001").iterdir())
    assert [p.name for p in placed] == EXPECTED  # raw exposures only
    for p in placed:
        assert os.path.samefile(p, tmp_path / "staging" / p.name)  # a link, not a copy
    assert not (layout.program_dir / "download").exists()  # the default staging area is not used
    # a second run downloads and places nothing
    n = len(mast.downloads())
    download_task.fn(**args)
    assert len(mast.downloads()) == n and sorted(layout.uncal_dir("001").iterdir()) == placed


MSA = "jw01234005001_01_msa.fits"
MOS = [f"jw01234005001_03101_0000{n}_nrs1_uncal.fits" for n in (1, 2, 3)]


@pytest.fixture
def mos_mast(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMast]:
    """A NIRSpec MOS observation (3 nods naming one MSA metadata file) and a fixed-slit one that names none."""
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    with FakeMast() as fake:
        for n in (1, 2, 3):
            fake.add_exposure("01234", "005", instrument="NIRSPEC", mode="MSA", exposure=f"03101_0000{n}",
                              detector="nrs1", suffixes=("uncal", "rate"), msa_file=MSA)
        fake.add_exposure("01234", "006", instrument="NIRSPEC", mode="SLIT", exposure="03101_00001", detector="nrs1",
                          msa_file=None)
        fake.add_exposure("01234", "007", instrument="NIRSPEC", mode="MSA", exposure="03101_00001", detector="nrs1",
                          msa_file="jw01234007001_01_msa.fits", serve_msa=False)  # MAST lacks its metadata file
        yield fake


def test_mos_metadata_file_comes_with_the_exposures_and_is_placed_beside_them(mos_mast: FakeMast, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import jwstspec.download as dl
    from flows.tasks import download_task

    monkeypatch.setattr(dl, "MAST_SERVER", mos_mast.url)
    uncal_dir = tmp_path / "data" / "Obs005" / "uncal"
    args = dict(program="01234", observation="005", output_dir=str(tmp_path / "staging"), products=["uncal"],
                all_products=False, instrument="NIRSPEC", token_file=None, uncal_dir=str(uncal_dir))
    paths = download_task.fn(**args)
    assert _names([Path(p) for p in paths]) == sorted([*MOS, MSA])  # listed once although every nod lists it
    assert mos_mast.downloads().count(MSA) == 1
    staged = tmp_path / "staging" / MSA
    assert staged.read_bytes() == mos_mast.files[MSA]  # checked, although it carries no TELESCOP
    assert sorted(p.name for p in uncal_dir.iterdir()) == sorted([*MOS, MSA])
    assert os.path.samefile(uncal_dir / MSA, staged)
    # a second run downloads nothing
    n = len(mos_mast.downloads())
    download_task.fn(**args)
    assert len(mos_mast.downloads()) == n


def test_non_mos_nirspec_download_has_no_metadata_file(mos_mast: FakeMast, tmp_path: Path) -> None:
    res = download_observation("01234", "6", tmp_path / "dl", instrument="nirspec", mast_url=mos_mast.url, timeout=TIMEOUT)
    assert _names(res.paths) == ["jw01234006001_03101_00001_nrs1_uncal.fits"]
    rates = download_observation("01234", "5", tmp_path / "dl", instrument="nirspec", products=("rate",),
                                 mast_url=mos_mast.url, timeout=TIMEOUT)
    assert all(p.name.endswith("_rate.fits") for p in rates.paths) and len(rates.paths) == 3


def test_missing_mos_metadata_file_is_one_line_naming_exposure_and_file(mos_mast: FakeMast, tmp_path: Path) -> None:
    from jwstspec.download import place_uncal

    res = download_observation("01234", "7", tmp_path / "dl", instrument="nirspec", mast_url=mos_mast.url, timeout=TIMEOUT)
    assert _names(res.paths) == ["jw01234007001_03101_00001_nrs1_uncal.fits"]
    uncal_dir = tmp_path / "Obs007" / "uncal"
    with pytest.raises(InputFileError) as info:
        place_uncal(res.paths, uncal_dir, program="01234", instrument="NIRSPEC", observation="007")
    text = str(info.value)
    assert "jw01234007001_03101_00001_nrs1_uncal.fits" in text and "jw01234007001_01_msa.fits (MSAMETFL) is missing" in text
    assert "\n" not in text and not uncal_dir.exists()  # nothing placed
