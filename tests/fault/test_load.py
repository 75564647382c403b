"""The bounded load test (reelmake.service.loadtest) against a real `reelmake serve --workers 1`: Range
readers, WebSocket watchers and queued renders all at once; every answer right, every job finished, the
server's memory bounded. `make soak` runs it bigger; `make bench` records its figures."""

from __future__ import annotations

from pathlib import Path

from conftest import fault_count
from service.support import start_server

from reelmake.service.loadtest import LoadPlan, run_load

PEAK_RSS_LIMIT_MB = 600  # generous: the server idles near 110 MB and renders run in their own processes


def test_load_against_one_worker(tmp_path: Path) -> None:
    plan = LoadPlan(
        range_clients=50,
        reads_per_client=fault_count(10, 100),
        watchers=fault_count(20, 50),
        renders=fault_count(10, 30),
        time_limit_s=fault_count(240, 1200),
    )
    server = start_server(tmp_path / "data", "--workers", "1")
    try:
        report = run_load(server.url, server.data, server.process.pid, plan)
    finally:
        server.stop()
    figures = report.figures()
    assert report.failures == [], figures
    assert report.range_reads == plan.range_clients * plan.reads_per_client
    assert report.watchers_complete == plan.watchers
    assert figures["renders"] == figures["renders_succeeded"] == plan.renders
    assert 0 < report.rss_before_kb <= report.rss_peak_kb
    assert figures["server_peak_rss_mb"] < PEAK_RSS_LIMIT_MB, figures
    log = "".join(p.read_text() for p in tmp_path.glob("server-*.log"))
    assert "Traceback" not in log and "Exception in ASGI" not in log
