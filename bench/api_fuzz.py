"""Fuzz the running server's API with schemathesis against its own OpenAPI document.

Starts uvicorn on 127.0.0.1 over a fresh SQLite database with a random
admin token, writes app.openapi() to a file (the server does not serve it),
and runs `schemathesis run` with the admin token as Bearer credential. The
run fails on any 5xx response, any response whose body does not match the
documented schema, and any status or content type the document does not list.

Terminal routes return 401 to the admin token, so schemathesis reaches their
caller check but not their logic; tests/server covers them with signed requests.

Usage: .venv/bin/python bench/api_fuzz.py [--max-examples N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import _free_port  # noqa: E402
from server.app import create_app  # noqa: E402

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def _write_schema(url: str, token: str, path: Path) -> None:
    app = create_app(url, token)
    path.write_text(json.dumps(app.openapi()), encoding="utf-8")
    app.state.engine.dispose()


def _start_server(url: str, token: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, KARTU_BENCH_DB=url, KARTU_ADMIN_TOKEN=token, PYTHONPATH=str(ROOT))
    log = open(workdir / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.ingest_app:create", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with status {process.returncode}; see {workdir / 'server.log'}")
        try:
            httpx.get(base_url + "/api/v1/me", timeout=1)
            return process, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("server did not start within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=50, help="examples per operation (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1571, help="schemathesis seed (default: %(default)s)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="kartu-fuzz-"))
    url = f"sqlite:///{workdir / 'fuzz.db'}"
    token = secrets.token_urlsafe(32)
    schema = workdir / "openapi.json"
    _write_schema(url, token, schema)
    process, base_url = _start_server(url, token, workdir)
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run", str(schema), "--url", base_url,
             "-H", f"Authorization: Bearer {token}", "--checks", CHECKS, "--max-examples", str(args.max_examples),
             "--phases", "examples,coverage,fuzzing", "--seed", str(args.seed), "--workers", "1"],
            cwd=workdir,
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    seconds = time.perf_counter() - started
    errors = [line for line in (workdir / "server.log").read_text().splitlines() if "Traceback" in line]
    print(f"schemathesis exit status {result.returncode} after {seconds:.1f} s; "
          f"{len(errors)} tracebacks in the server log {workdir / 'server.log'}")
    if result.returncode == 0 and not errors:
        shutil.rmtree(workdir, ignore_errors=True)
    return result.returncode or (1 if errors else 0)


if __name__ == "__main__":
    sys.exit(main())
