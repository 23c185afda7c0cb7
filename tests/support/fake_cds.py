"""Local fake servers for the download tests: a Climate Data Store, a plain HTTPS file host, a hung server.

All listen on 127.0.0.1 at a free port, in a thread of the test process, and never reach the internet.

``FakeCDS`` speaks the protocol of the current CDS as the real ``cdsapi`` client (0.7.x, delegating to
``ecmwf.datastores``) uses it (the CDS API and the client's source, https://github.com/ecmwf/cdsapi):

    GET  /api/catalogue/v1/messages                        {"messages": []}
    GET  /api/retrieve/v1/processes/{dataset}              {"id": dataset, ...}; 404 for unknown datasets
    POST /api/retrieve/v1/processes/{dataset}/execution    201, status accepted, links self + monitor
    GET  /api/retrieve/v1/jobs/{id}[?log=True&request=True] status accepted -> running -> successful
                                                           (or failed / rejected), metadata.log, links
    GET  /api/retrieve/v1/jobs/{id}/results                asset {type, href, file:size, file:checksum}
                                                           or 400 "job results failed"
    HEAD/GET /download/{id}.{ext}                          the file; Range -> 206 (no token needed)

The files served follow the request: ERA5-Land hourly files hold the requested variables, days and hours
(NetCDF4, or GRIB for ``data_format: grib``) with values that depend only on variable, hour and position, so
the parts of a split request hold exactly what one request would. ``file:checksum`` is what the CDS announces
for a file stored in one piece: the md5 as a hexadecimal integer (:func:`object_store_checksum`).

Every /retrieve call must carry ``PRIVATE-TOKEN: <token>`` (else 401). Errors are RFC 7807-like bodies
``{type, title, status, detail, instance, trace_id}``. ``Faults`` injects what the real service does
when things go wrong. The files served are small but real, written by the source modules' writers
(``terraflux.sources.<source>.write``): NetCDF4, GRIB2 and zips as the CDS delivers them.

``FakeFiles`` serves a dict of files (HEAD/GET with Range, Accept-Ranges) and can break off the first
transfers or answer 503/429 with Retry-After first. ``SilentServer`` accepts connections and never answers.
"""

from __future__ import annotations

import hashlib
import json
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import terraflux  # noqa: F401  (native library order, see terraflux/__init__.py)
from terraflux.sources import cerra, era5_land, land_cover
from terraflux.sources.cerra import write as write_cerra
from terraflux.sources.era5_land import write as write_era5
from terraflux.sources.land_cover import write as write_land_cover

import numpy as np

# netCDF-C/HDF5 and eccodes are not thread-safe, and the server answers each request in its own thread:
# two jobs submitted at once (Snakemake runs downloads in parallel) would write files concurrently and
# crash the process. One lock serialises every file the fake service writes.
_NATIVE_WRITE_LOCK = threading.Lock()


def _now() -> str:
    return datetime.now(UTC).isoformat()


# --- small real files, written by the source modules' writers ----------------------------------------------


def _grid(area: list[float], step: float) -> tuple[np.ndarray, np.ndarray]:
    north, west, south, east = area
    lat = np.round(np.arange(north, south - step / 2, -step), 4)
    lon = np.round(np.arange(west, east + step / 2, step), 4)
    return lat, lon


def _written(write, name: str) -> bytes:
    """The bytes a writer (``write(path)``) puts in a file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write(path, Path(folder))
        return path.read_bytes()


#: (offset, amplitude) of the fake fields by units: plausible values for every variable of the table.
_RANGES = {"K": (280.0, 5.0), "Pa": (95000.0, 500.0), "m": (0.001, 0.001), "J m**-2": (5e5, 5e5)}


def _era5_fields(variables: list[str], area: list[float], hours: np.ndarray):
    """The grid and one field per variable: a function of the variable, the valid hour (hours since 1970) and
    the position only (a daily cycle plus a hash-like noise that keeps files as incompressible as real data),
    so that any two requests give the same value for the same variable, hour and grid point."""
    lat, lon = _grid(area or [48, 8, 46, 11], era5_land.STEP)
    t, y, x = np.meshgrid(hours.astype(np.float64), lat, lon, indexing="ij")
    cycle = 0.5 + 0.5 * np.sin(2 * np.pi * (t % 24) / 24 + t / 240)
    fields = []
    for name in variables:
        var = era5_land.BY_REQUEST[name]
        offset, amplitude = _RANGES.get(var.units, (0.5, 0.1))
        noise = np.modf(np.abs(np.sin(t * 12.9898 + y * 78.233 + x * 37.719 + var.param_id) * 43758.5453))[0]
        fields.append((var, (offset + amplitude * (0.8 * cycle + 0.2 * noise)).astype("float32")))
    return lat, lon, fields


def _request_hours(inputs: dict[str, Any]) -> np.ndarray:
    """Valid times of an hourly request (year, month, day, time), hours since 1970."""
    year, month = int(_first(inputs["year"])), int(_first(inputs["month"]))
    stamps = [
        np.datetime64(f"{year:04d}-{month:02d}-{int(day):02d}T{time}")
        for day in inputs["day"]
        for time in inputs["time"]
    ]
    return np.sort(np.array(stamps, dtype="datetime64[h]").astype(np.int64))


def era5_land_hourly(
    variables: list[str], area: list[float], hours: np.ndarray, data_format: str = "netcdf", as_zip: bool = False
) -> bytes:
    """An hourly ERA5-Land file as the new CDS delivers it: NetCDF4, GRIB (``data_format='grib'``), or
    (``as_zip``) the zip of one NetCDF per step type it sends for mixed instantaneous and accumulated fields.
    ``hours``: valid times, hours since 1970."""
    lat, lon, fields = _era5_fields(variables, area, hours)
    first = hours[0].astype("datetime64[h]").astype(object)
    history = write_era5.delivery_time(first.year, first.month)
    return _written(
        lambda path, _: write_era5.hourly_month(
            path, lat, lon, hours, ["0001"] * len(hours), fields, history, data_format=data_format, as_zip=as_zip
        ),
        "f.grib" if data_format == "grib" else "f.nc",
    )


def era5_land_netcdf(variables: list[str], area: list[float], times: int = 2, as_zip: bool = False) -> bytes:
    """:func:`era5_land_hourly` of ``times`` hours from 2016-01-01 00 UTC."""
    return era5_land_hourly(variables, area, 403224 + np.arange(times, dtype=np.int64), as_zip=as_zip)


def era5_land_daily_zip(variables: list[str], area: list[float], statistic: str, days: np.ndarray) -> bytes:
    """The daily-statistics zip: one NetCDF per variable over ``days`` (00 UTC, hours since 1970)."""
    lat, lon, fields = _era5_fields(variables, area, days)
    first = days[0].astype("datetime64[h]").astype(object)
    history = write_era5.delivery_time(first.year, first.month)
    return _written(
        lambda path, folder: write_era5.daily_zip(
            path, lat, lon, days * 3600, ["0001"] * len(days), fields, statistic, history, folder
        ),
        "f.zip",
    )


def cerra_grib(variables: list[str], product: str, hours: np.ndarray) -> bytes:
    """One small GRIB2 message per variable and base time (``hours``, hours since 1970) on a 3 x 3 window of
    CERRA's Lambert grid; values depend on the variable and the time only."""
    rows = cerra.variables(variables, "request")
    daily = np.sin(2 * np.pi * (hours % 24) / 24)[:, None, None]
    fields = {v.short: (280.0 + v.param_id % 50 + daily + np.zeros((1, 3, 3))).astype(np.float32) for v in rows}
    accumulation = 3 if product == "forecast" else None
    return _written(
        lambda path, _: write_cerra.grib(path, 3, 3, (45.0, 5.0), rows, hours, fields, accumulation_hours=accumulation),
        "f.grib",
    )


def land_cover_zip(year: int, area: list[float]) -> bytes:
    """The CDS satellite-land-cover zip: one NetCDF with ``lccs_class`` (uint8, flag_values)."""
    north, west, south, east = area = area or [48, 8, 46, 11]
    lat = north - (np.arange(36) + 0.5) / land_cover.PIXELS_PER_DEGREE
    lon = west + (np.arange(36) + 0.5) / land_cover.PIXELS_PER_DEGREE
    classes = np.random.default_rng(year).choice(np.array([10, 50, 70, 130, 210], dtype="uint8"), (lat.size, lon.size))
    return _written(
        lambda path, folder: write_land_cover.lccs_zip(
            path,
            year,
            area,
            folder,
            lat=lat,
            lon=lon,
            classes=classes,
            observation_count=np.full(classes.shape, 10, np.uint16),
            tracking_id=str(uuid.UUID(int=year)),
            creation_date=f"{year + 1}0101T000000Z",
        ),
        "f.zip",
    )


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def make_asset(dataset: str, inputs: dict[str, Any], faults: Faults) -> tuple[bytes, str, str]:
    """(content, MIME type, file extension) of the result of a request."""
    area = inputs.get("area")
    variables = list(inputs.get("variable", []))
    if dataset == era5_land.HOURLY_DATASET:
        hours = _request_hours(inputs)
        if faults.asset_times:
            hours = hours[0] + np.arange(faults.asset_times, dtype=np.int64)
        if inputs.get("data_format") == "grib":
            return era5_land_hourly(variables, area, hours, "grib"), "application/x-grib", "grib"
        if faults.zip_for_netcdf:
            return era5_land_hourly(variables, area, hours, as_zip=True), "application/zip", "zip"
        return era5_land_hourly(variables, area, hours), "application/netcdf", "nc"
    if dataset == era5_land.DAILY_DATASET:
        days = _request_hours(dict(inputs, time=["00:00"]))
        return era5_land_daily_zip(variables, area, inputs["daily_statistic"], days), "application/zip", "zip"
    if dataset == cerra.DATASET:
        return cerra_grib(variables, inputs["product_type"], _request_hours(inputs)), "application/x-grib", "grib"
    if dataset == land_cover.DATASET:
        year = int(_first(inputs["year"]))
        if _first(inputs["version"]) != land_cover.version(year):
            raise ValueError(f"satellite-land-cover has {year} in version {land_cover.version(year)}")
        return land_cover_zip(year, area), "application/zip", "zip"
    raise KeyError(dataset)


# --- the fake CDS -----------------------------------------------------------------------------------


@dataclass
class Faults:
    """What goes wrong (all off by default)."""

    server_errors: int = 0  # the first N submissions answer 503 (the client retries)
    rate_limits: int = 0  # the first N submissions answer 429 with Retry-After
    retry_after: str = "1"
    polls_accepted: int = 0  # the job stays 'accepted' for N monitor reads ...
    polls_running: int = 0  # ... then 'running' for N reads
    final_status: str = "successful"  # or 'failed' / 'rejected'
    submit_error: str | None = None  # 'licence', 'cost', '400', '422' on submission
    size_mismatch: int = 0  # bytes added to file:size in the results (the file is shorter than announced)
    zip_for_netcdf: bool = False  # a zip of per-stepType NetCDF files for an unarchived NetCDF request
    cut_transfers: int = 0  # the first N asset GETs break off half-way (the client resumes with Range)
    asset_times: int = 0  # time steps in ERA5-Land files instead of the requested ones (0: as requested)
    asset_status: int = 0  # the asset's href answers this status (404: the results link expired)
    html_asset: bool = False  # the asset's href serves an HTML page (200) in place of the data
    bad_checksum: bool = False  # file:checksum of other bytes than those served


@dataclass
class Job:
    dataset: str
    inputs: dict[str, Any]
    created: str = field(default_factory=_now)
    reads: int = 0
    status: str = "accepted"
    content: bytes = b""
    mime: str = ""
    ext: str = ""


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1:<free port>, with a request log."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _dispatch(self, method: str) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                call = {
                    "method": method,
                    "path": parsed.path,
                    "query": parse_qs(parsed.query),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(body) if body else None,
                }
                with outer.lock:
                    outer.calls.append(call)
                outer.handle(self, call)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_HEAD(self) -> None:
                self._dispatch("HEAD")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # helpers for handlers
    @staticmethod
    def send_json(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def send_file(h: BaseHTTPRequestHandler, call: dict[str, Any], content: bytes, mime: str, cut: bool) -> None:
        """HEAD/GET of a file with byte ranges; ``cut`` breaks the connection after half the bytes."""
        start = 0
        rng = call["headers"].get("range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(content):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(content)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        else:
            h.send_response(200)
        part = memoryview(content)[start:]  # no copy of large files
        h.send_header("Content-Type", mime)
        h.send_header("Content-Length", str(len(part)))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        if call["method"] == "HEAD":
            return
        if cut:
            h.wfile.write(part[: len(part) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(part)

    def handle(self, h: BaseHTTPRequestHandler, call: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def object_store_checksum(content: bytes) -> str:
    """``file:checksum`` as the CDS announces it for a file stored in one piece: the md5 as a hexadecimal
    integer (leading zeros dropped; cacholote ``f"{fs.checksum(path):x}"`` of the S3 object's ETag)."""
    return f"{int(hashlib.md5(content).hexdigest(), 16):x}"


def problem(status: int, kind: str, title: str, detail: str, instance: str, **extra: Any) -> dict[str, Any]:
    """An RFC 7807-like error body as the CDS sends it."""
    return {
        "type": kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "trace_id": str(uuid.uuid4()),
        **extra,
    }


class FakeCDS(_Server):
    """The fake Climate Data Store. ``url`` is what CDSAPI_URL must be set to; ``token`` the key."""

    DATASETS = (era5_land.HOURLY_DATASET, era5_land.DAILY_DATASET, cerra.DATASET, land_cover.DATASET)

    def __init__(self, token: str = "00000000-fake-cds-token", faults: Faults | None = None) -> None:
        super().__init__()
        self.token = token
        self.faults = faults or Faults()
        self.jobs: dict[str, Job] = {}
        self.submissions = 0
        self.transfers = 0
        self.url = f"{self.base}/api"

    def api_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["path"].startswith("/api/retrieve/")]

    def handle(self, h: BaseHTTPRequestHandler, call: dict[str, Any]) -> None:
        path, instance = call["path"], f"{self.base}{call['path']}"
        if path == "/api/catalogue/v1/messages":
            return self.send_json(h, 200, {"messages": []})
        if path.startswith("/download/"):
            job = self.jobs.get(path.rsplit("/", 1)[1].split(".")[0])
            if job is None or self.faults.asset_status:
                status = self.faults.asset_status or 404
                return self.send_json(
                    h, status, problem(status, "not found", "results not found", "no such file", instance)
                )
            if self.faults.html_asset:
                page = (
                    b"<!DOCTYPE html><html><head><title>Service maintenance</title></head><body>Back soon</body></html>"
                )
                return self.send_file(h, call, page, "text/html", cut=False)
            cut = (
                call["method"] == "GET"
                and self.transfers < self.faults.cut_transfers
                and "range" not in call["headers"]
            )
            if call["method"] == "GET":
                self.transfers += 1
            return self.send_file(h, call, job.content, job.mime, cut)
        if not path.startswith("/api/retrieve/v1/"):
            return self.send_json(h, 404, problem(404, "not found", "not found", path, instance))
        if call["headers"].get("private-token") != self.token:
            return self.send_json(
                h,
                401,
                problem(
                    401,
                    "authentication failed",
                    "authentication required",
                    "invalid or missing PRIVATE-TOKEN",
                    instance,
                ),
            )
        parts = path[len("/api/retrieve/v1/") :].split("/")
        if parts[0] == "processes" and len(parts) == 2 and call["method"] == "GET":
            if parts[1] not in self.DATASETS:
                return self.send_json(
                    h, 404, problem(404, "not found", "process not found", f"process {parts[1]} not found", instance)
                )
            return self.send_json(h, 200, {"id": parts[1], "title": parts[1], "links": []})
        if parts[0] == "processes" and len(parts) == 3 and parts[2] == "execution" and call["method"] == "POST":
            return self.submit(h, parts[1], (call["json"] or {}).get("inputs", {}), instance)
        if parts[0] == "jobs" and len(parts) >= 2 and parts[1] in self.jobs:
            job = self.jobs[parts[1]]
            if len(parts) == 2 and call["method"] == "GET":
                return self.monitor(h, parts[1], job, call)
            if len(parts) == 3 and parts[2] == "results":
                return self.results(h, parts[1], job, instance)
        return self.send_json(h, 404, problem(404, "not found", "job not found", path, instance))

    def submit(self, h: BaseHTTPRequestHandler, dataset: str, inputs: dict[str, Any], instance: str) -> None:
        faults = self.faults
        self.submissions += 1
        if self.submissions <= faults.server_errors:
            return self.send_json(
                h, 503, problem(503, "service unavailable", "service unavailable", "try again later", instance)
            )
        if self.submissions <= faults.server_errors + faults.rate_limits:
            return self.send_json(
                h,
                429,
                problem(429, "rate limit exceeded", "rate limit exceeded", "too many requests", instance),
                {"Retry-After": faults.retry_after},
            )
        errors = {
            "licence": (
                403,
                "permission denied",
                "required licences not accepted",
                "Not all the required licences have been accepted; please visit "
                f"https://cds.climate.copernicus.eu/datasets/{dataset}?tab=download#manage-licences "
                "to accept the required licence(s).",
            ),
            "cost": (
                403,
                "cost limits exceeded",
                "cost limits exceeded",
                "Your request is too large, please reduce your selection.",
            ),
            "400": (
                400,
                "invalid request",
                "invalid request",
                "Request has not produced a valid combination of values, please check your selection.",
            ),
            "422": (
                422,
                "invalid parameter",
                "invalid parameter",
                "the value 'not_a_variable' of 'variable' is not valid",
            ),
        }
        if faults.submit_error in errors:
            status, kind, title, detail = errors[faults.submit_error]
            return self.send_json(h, status, problem(status, kind, title, detail, instance))
        job_id = str(uuid.uuid4())
        job = Job(dataset=dataset, inputs=inputs)
        with _NATIVE_WRITE_LOCK:
            job.content, job.mime, job.ext = make_asset(dataset, inputs, faults)
        self.jobs[job_id] = job
        monitor = f"{self.url}/retrieve/v1/jobs/{job_id}"
        body = {
            "processID": dataset,
            "type": "process",
            "jobID": job_id,
            "status": "accepted",
            "created": job.created,
            "updated": job.created,
            "links": [
                {"href": monitor, "rel": "self", "type": "application/json"},
                {"href": monitor, "rel": "monitor", "type": "application/json"},
            ],
        }
        return self.send_json(h, 201, body)

    def monitor(self, h: BaseHTTPRequestHandler, job_id: str, job: Job, call: dict[str, Any]) -> None:
        faults = self.faults
        job.reads += 1
        if job.reads <= faults.polls_accepted:
            job.status = "accepted"
        elif job.reads <= faults.polls_accepted + faults.polls_running:
            job.status = "running"
        else:
            job.status = faults.final_status
        monitor = f"{self.url}/retrieve/v1/jobs/{job_id}"
        links = [{"href": monitor, "rel": "self", "type": "application/json"}]
        if job.status in ("successful", "failed", "rejected"):
            links.append({"href": f"{monitor}/results", "rel": "results"})
        started = None if job.status == "accepted" else job.created
        finished = job.created if job.status in ("successful", "failed", "rejected") else None
        body: dict[str, Any] = {
            "processID": job.dataset,
            "type": "process",
            "jobID": job_id,
            "status": job.status,
            "created": job.created,
            "started": started,
            "finished": finished,
            "updated": _now(),
            "links": links,
        }
        if "log" in call["query"] or "request" in call["query"]:
            since = call["query"].get("logStartTime", [""])[0]  # the log entries after this time only
            log = [[job.created, f"INFO: job is {job.status}"]] if job.created > since else []
            body["metadata"] = {"log": log, "request": {"ids": job.inputs}}
        return self.send_json(h, 200, body)

    def results(self, h: BaseHTTPRequestHandler, job_id: str, job: Job, instance: str) -> None:
        if job.status in ("failed", "rejected"):
            reason = "The job has failed" if job.status == "failed" else "The job has been rejected"
            return self.send_json(
                h,
                400,
                problem(
                    400,
                    "job results failed",
                    reason,
                    None,
                    instance,
                    traceback="The job failed with: MultiAdaptorNoDataError: no data for the requested dates",
                ),
            )
        if job.status != "successful":
            return self.send_json(
                h, 404, problem(404, "results not ready", "results not ready", f"job status is {job.status}", instance)
            )
        asset = {
            "type": job.mime,
            "href": f"{self.base}/download/{job_id}.{job.ext}",
            "file:checksum": object_store_checksum(job.content + (b"x" if self.faults.bad_checksum else b"")),
            "file:size": len(job.content) + self.faults.size_mismatch,
            "file:local_path": f"/cache-store/{job_id}.{job.ext}",
        }
        return self.send_json(h, 200, {"asset": {"value": asset}})


def point_client_at(url: str, token: str, monkeypatch: Any, folder: Path) -> None:
    """Make the cdsapi client use the service at ``url`` with ``token`` (``CDSAPI_URL``, ``CDSAPI_KEY``; the rc
    file it would read instead does not exist)."""
    monkeypatch.setenv("CDSAPI_URL", url)
    monkeypatch.setenv("CDSAPI_KEY", token)
    monkeypatch.setenv("CDSAPI_RC", str(Path(folder) / "no-such-cdsapirc"))


# --- a server that never answers ------------------------------------------------------------------


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers (a hung service): every call ends in a read timeout.
    ``url`` is what CDSAPI_URL must be set to."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/api"
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:  # closed
                return
            self.connections.append(connection)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.socket.close()
        for connection in self.connections:
            connection.close()


# --- the fake HTTPS file host -----------------------------------------------------------------------


class FakeFiles(_Server):
    """Serves ``files`` ({'/path': bytes}); ``cut_transfers`` breaks the first N full GETs off half-way,
    ``statuses`` answers the first requests with these codes (429/503 carry ``Retry-After``)."""

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        cut_transfers: int = 0,
        statuses: tuple[int, ...] = (),
        retry_after: str = "1",
        ranges: bool = True,
    ) -> None:
        super().__init__()
        self.files = dict(files)
        self.cut_transfers = cut_transfers
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.ranges = ranges
        self.transfers = 0

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def handle(self, h: BaseHTTPRequestHandler, call: dict[str, Any]) -> None:
        if call["method"] == "GET" and self.statuses:
            status = self.statuses.pop(0)
            return self.send_json(h, status, {"error": status}, {"Retry-After": self.retry_after})
        content = self.files.get(call["path"])
        if content is None:
            return self.send_json(h, 404, {"error": "not found"})
        if not self.ranges:
            call["headers"].pop("range", None)
        cut = call["method"] == "GET" and self.transfers < self.cut_transfers
        if call["method"] == "GET":
            self.transfers += 1
        return self.send_file(h, call, content, "application/octet-stream", cut)
