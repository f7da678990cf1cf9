"""A fake MAST on 127.0.0.1 for the download tests.

It answers the same endpoints ``jwst_mast_query`` and astroquery use (the
JWST Mashup portal: ``columnsconfig`` and ``invoke`` for the services
``Mast.Caom.Filtered`` and ``Mast.Caom.Products``; ``/whoami`` for the token;
``/jwst/api/v0.1/download/file?uri=...`` for files) with synthetic
observations and small synthetic JWST FITS products carrying FITS
checksums.  Faults are queued per kind (``query`` or ``download``) and
consumed one per request:

``"500"``         HTTP 503
``"timeout"``     the server stalls (download: after half of the body)
``"truncate"``    the body stops halfway (connection closed)
``"badchecksum"`` one data byte flipped, same size
``"error"``       (query) a Mashup ``status: ERROR`` answer

Use it as a context manager; ``url`` is the base URL to give as ``mast_url``.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
import urllib.parse
from collections.abc import Sequence

import numpy as np
from astropy.io import fits

PRODUCT_URI = "mast:JWST/product/"


def make_product(name: str, program: str, observation: str, instrument: str, seed: int = 0,
                 msa_file: str | None = None) -> bytes:
    """A small JWST FITS product (primary + SCI) with CHECKSUM/DATASUM keywords (and ``MSAMETFL`` if given)."""
    primary = fits.PrimaryHDU(header=fits.Header({
        "TELESCOP": "JWST", "INSTRUME": instrument.upper(), "PROGRAM": program, "OBSERVTN": observation,
        "FILENAME": name, **({"MSAMETFL": msa_file, "EXP_TYPE": "NRS_MSASPEC"} if msa_file else {})}))
    sci = fits.ImageHDU(np.random.default_rng(seed).integers(0, 30000, (8, 200)).astype(">u2"), name="SCI")
    buf = io.BytesIO()
    fits.HDUList([primary, sci]).writeto(buf, checksum=True)
    return buf.getvalue()


def make_msa_file(name: str) -> bytes:
    """A small MSA metadata file (SHUTTER_INFO + SOURCE_INFO tables, no TELESCOP, as the real ones) with checksums."""
    shutters = fits.BinTableHDU.from_columns([fits.Column("slitlet_id", "I", array=[1, 1, 1]),
                                              fits.Column("shutter_column", "I", array=[20, 21, 22])], name="SHUTTER_INFO")
    sources = fits.BinTableHDU.from_columns([fits.Column("source_id", "J", array=[1])], name="SOURCE_INFO")
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(header=fits.Header({"FILENAME": name})), shutters, sources]).writeto(buf, checksum=True)
    return buf.getvalue()


def _table(fields: Sequence[tuple[str, str]], rows: list[dict]) -> dict:
    return {"status": "COMPLETE", "fields": [{"name": n, "type": t} for n, t in fields], "data": rows,
            "paging": {"page": 1, "pageSize": len(rows), "pagesFiltered": 1, "rows": len(rows), "rowsFiltered": len(rows), "rowsTotal": len(rows)}}


OBS_FIELDS = [("proposal_id", "string"), ("dataURL", "string"), ("obsid", "string"), ("obs_id", "string"),
              ("t_min", "float"), ("t_exptime", "float"), ("instrument_name", "string")]
PRODUCT_FIELDS = [("obsID", "string"), ("obs_id", "string"), ("proposal_id", "string"), ("productFilename", "string"),
                  ("dataURI", "string"), ("size", "int"), ("calib_level", "int"), ("parent_obsid", "string"),
                  ("dataproduct_type", "string"), ("productType", "string"), ("type", "string"), ("description", "string")]


class FakeMast:
    """Synthetic MAST holding observations and products; see the module docstring."""

    def __init__(self, token: str | None = None, proprietary: bool = False) -> None:
        self.token = token
        self.proprietary = proprietary
        self.observations: list[dict] = []
        self.products: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {"query": [], "download": []}
        self.log: list[tuple[str, str]] = []  # (kind, file name or service)
        self.auth_headers: list[str] = []
        self.release = threading.Event()
        self._httpd: http.server.ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ content
    def add_exposure(self, program: str, observation: str, instrument: str = "MIRI", mode: str = "IFU",
                     exposure: str = "02101_00001", detector: str = "mirifushort",
                     suffixes: Sequence[str] = ("uncal", "rate", "cal"), msa_file: str | None = None,
                     serve_msa: bool = True) -> list[str]:
        """One exposure (a CAOM observation) and its products; returns the file names.

        ``msa_file``: a MOS exposure naming this MSA metadata file in ``MSAMETFL``;
        MAST lists it among the exposure's products unless ``serve_msa`` is False.
        """
        obs_id = f"jw{program}{observation}001_{exposure}_{detector}"
        obsid = str(100000 + len(self.observations))
        self.observations.append({"proposal_id": str(int(program)), "dataURL": "", "obsid": obsid, "obs_id": obs_id,
                                  "t_min": 60000.0 + len(self.observations), "t_exptime": 100.0,
                                  "instrument_name": f"{instrument.upper()}/{mode.upper()}"})
        names = []
        for k, suffix in enumerate(suffixes):
            name = f"{obs_id}_{suffix}.fits"
            data = make_product(name, program, observation, instrument, seed=len(self.files), msa_file=msa_file)
            self.files[name] = data
            self.products.append({"obsID": str(int(obsid) * 10 + k), "obs_id": obs_id, "proposal_id": str(int(program)),
                                  "productFilename": name, "dataURI": PRODUCT_URI + name, "size": len(data),
                                  "calib_level": 1 if suffix == "uncal" else 2, "parent_obsid": obsid,
                                  "dataproduct_type": "cube" if instrument.upper() == "MIRI" else "spectrum",
                                  "productType": "SCIENCE", "type": "S", "description": f"exposure ({suffix})"})
            names.append(name)
        if msa_file and serve_msa:
            data = self.files.setdefault(msa_file, make_msa_file(msa_file))
            self.products.append({"obsID": str(int(obsid) * 10 + len(suffixes)), "obs_id": obs_id, "proposal_id": str(int(program)),
                                  "productFilename": msa_file, "dataURI": PRODUCT_URI + msa_file, "size": len(data),
                                  "calib_level": 1, "parent_obsid": obsid, "dataproduct_type": "spectrum",
                                  "productType": "AUXILIARY", "type": "S", "description": "MSA metadata"})
        return names

    def fail(self, kind: str, *faults: str) -> None:
        """Queue faults for the next ``kind`` (``query`` or ``download``) requests."""
        self.faults[kind].extend(faults)

    def downloads(self) -> list[str]:
        return [name for kind, name in self.log if kind == "download"]

    # ------------------------------------------------------------ server
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> FakeMast:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet, and never logs a token
                pass

            def _json(self, obj: object, status: int = 200) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _fault(self, kind: str) -> str | None:
                return fake.faults[kind].pop(0) if fake.faults[kind] else None

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.path.endswith("/columnsconfig"):
                    self._json({"obs_id": {"text": "Observation ID"}})
                    return
                if not self.path.endswith("/invoke"):
                    self._json({}, 404)
                    return
                request = json.loads(urllib.parse.parse_qs(body)["request"][0])
                service, params = request["service"], request["params"]
                fake.log.append(("query", service))
                fault = self._fault("query")
                if fault == "500":
                    self._json({"error": "down"}, 503)
                    return
                if fault == "timeout":
                    fake.release.wait(20)
                    return
                if fault == "error":
                    self._json({"status": "ERROR", "msg": "internal", "data": [], "fields": []})
                    return
                if service == "Mast.Caom.Filtered":
                    filters = {f["paramName"]: f["values"] for f in params["filters"]}
                    rows = [o for o in fake.observations
                            if o["instrument_name"] in filters.get("instrument_name", [o["instrument_name"]])
                            and int(o["proposal_id"]) in [int(v) for v in filters.get("proposal_id", [o["proposal_id"]])]]
                    self._json(_table(OBS_FIELDS, rows))
                elif service == "Mast.Caom.Products":
                    ids = set(str(params["obsid"]).split(","))
                    self._json(_table(PRODUCT_FIELDS, [p for p in fake.products if p["parent_obsid"] in ids]))
                else:
                    self._json({"status": "ERROR", "msg": f"unknown service {service}"})

            def do_GET(self) -> None:  # noqa: N802
                url = urllib.parse.urlparse(self.path)
                if url.path == "/whoami":
                    cookie = self.headers.get("Cookie", "")
                    ok = fake.token is not None and f"mast_token={fake.token}" in cookie
                    self._json({"anon": not ok, "attrib": {"display_name": "tester"} if ok else {}})
                    return
                if not url.path.endswith("/download/file"):
                    self._json({}, 404)
                    return
                uri = urllib.parse.parse_qs(url.query).get("uri", [""])[0]
                name = uri.removeprefix(PRODUCT_URI)
                fake.log.append(("download", name))
                auth = self.headers.get("Authorization", "")
                fake.auth_headers.append(auth)
                if name not in fake.files:
                    self._json({}, 404)
                    return
                if fake.proprietary and auth != f"token {fake.token}":
                    self._json({"error": "unauthorized"}, 401)
                    return
                data = fake.files[name]
                fault = self._fault("download")
                if fault == "500":
                    self._json({"error": "down"}, 503)
                    return
                if fault == "badchecksum":
                    bad = bytearray(data)
                    bad[-2880 + 10] ^= 0xFF  # inside the SCI data
                    data = bytes(bad)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault in ("truncate", "timeout"):
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    if fault == "timeout":
                        fake.release.wait(20)
                    return
                self.wfile.write(data)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
