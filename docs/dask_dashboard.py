"""Take docs/dask-dashboard.png: the Dask dashboard while a refresh's generation shards run on a
two-worker LocalCluster (prefect-dask), captured in headless Chromium through the DevTools protocol.

    .venv/bin/python docs/dask_dashboard.py      # needs Debian's chromium; writes under /tmp
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = "http://127.0.0.1:8787/status"


async def screenshot(url: str, out: Path, wait: float, width: int = 1400, height: int = 1000):
    import websockets

    profile = tempfile.mkdtemp()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
    chromium = subprocess.Popen(
        ["chromium", *flags, f"--user-data-dir={profile}", "--remote-debugging-port=9333"],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                tabs = json.loads(urllib.request.urlopen("http://127.0.0.1:9333/json").read())
                break
            except OSError:
                time.sleep(0.2)
        page = next(t for t in tabs if t["type"] == "page")["webSocketDebuggerUrl"]
        async with websockets.connect(page, max_size=50_000_000) as ws:
            calls = iter(range(1, 100))

            async def call(method, **params):
                number = next(calls)
                await ws.send(json.dumps({"id": number, "method": method, "params": params}))
                while (reply := json.loads(await ws.recv())).get("id") != number:
                    pass
                return reply.get("result")

            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
            await call("Emulation.setDeviceMetricsOverride", **metrics)
            await call("Page.navigate", url=url)
            await asyncio.sleep(wait)  # bokeh draws over a websocket: real time, not virtual
            out.write_bytes(base64.b64decode((await call("Page.captureScreenshot"))["data"]))
    finally:
        chromium.terminate()


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="dask-dashboard-"))
    os.environ["FAIRDISTILL_LAKE"] = str(home / "lake")
    sys.path.insert(0, str(ROOT))
    from fairdistill.environment import configure_environment

    configure_environment(home)
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from fairdistill.settings import load_settings
    from fairdistill.spec import load_spec
    from flows.refresh import refresh

    fast = load_settings(ROOT / "tests" / "data" / "fast.yaml")
    generation = {"rows": 3_000_000, "shard_rows": 200_000, "chunk_size": 20_000}
    settings = dict(
        fast.model_copy(update={"generation": fast.generation.model_copy(update=generation)})
    )
    env = {"FAIRDISTILL_GENERATE_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with LocalCluster(
        n_workers=2, threads_per_worker=1, env=env, dashboard_address="127.0.0.1:8787"
    ) as cluster:

        def shoot():
            while not cluster.scheduler.tasks:  # the shards are on the cluster
                time.sleep(0.5)
            time.sleep(2)
            asyncio.run(screenshot(DASHBOARD, ROOT / "docs" / "dask-dashboard.png", wait=10))

        shooter = threading.Thread(target=shoot)
        shooter.start()
        on_cluster = refresh.with_options(
            task_runner=DaskTaskRunner(address=cluster.scheduler_address)
        )
        on_cluster(dataset=load_spec(ROOT / "tests" / "data" / "loans.yaml").absolute(), **settings)
        shooter.join()


if __name__ == "__main__":
    main()
