"""Process bookkeeping of served mode, without starting any server."""

import os
import socket

import pytest

from app import serve


@pytest.fixture(autouse=True)
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRDISTILL_RUNTIME", str(tmp_path / "runtime"))
    return tmp_path / "runtime"


def test_port_free_sees_a_listener():
    with socket.socket() as listener:
        listener.bind((serve.host(), 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not serve.port_free(port)
    assert serve.port_free(port)


def test_a_stale_or_foreign_pid_file_is_not_a_running_server(runtime):
    runtime.mkdir()
    (runtime / "prefect-server.pid").write_text("999999999\n")  # no such process
    assert serve.running_pid("prefect-server") is None
    (runtime / "prefect-server.pid").write_text(f"{os.getpid()}\n")  # alive, but not our command
    assert serve.running_pid("prefect-server") is None
    assert serve.running_pid("worker") is None  # no PID file at all


def test_a_port_held_by_another_program_stops_serve_before_anything_starts(monkeypatch):
    monkeypatch.setattr(serve, "port_free", lambda port, address=None: port != 4200)
    launched = []
    monkeypatch.setattr(serve, "_launch", lambda name, env: launched.append(name))
    with pytest.raises(
        serve.ServeError, match=r"port 4200 on 127.0.0.1 .*\(FAIRDISTILL_PREFECT_PORT\)"
    ):
        serve.start(say=lambda _: None)
    assert launched == []


def test_address_and_ports_default_to_loopback_and_can_be_set(monkeypatch):
    assert (serve.prefect_url(), serve.mlflow_url()) == (
        "http://127.0.0.1:4200",
        "http://127.0.0.1:5000",
    )
    monkeypatch.setenv("FAIRDISTILL_HOST", "127.0.0.2")
    monkeypatch.setenv("FAIRDISTILL_PREFECT_PORT", "14200")
    monkeypatch.setenv("FAIRDISTILL_MLFLOW_PORT", "15000")
    assert (serve.prefect_url(), serve.mlflow_url()) == (
        "http://127.0.0.2:14200",
        "http://127.0.0.2:15000",
    )
    commands = serve._commands()
    prefect, mlflow = " ".join(commands["prefect-server"]), " ".join(commands["mlflow-server"])
    assert "--host 127.0.0.2 --port 14200" in prefect
    assert "--host 127.0.0.2 --port 15000" in mlflow
    assert serve._client_env()["PREFECT_API_URL"] == "http://127.0.0.2:14200/api"


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_a_port_that_is_not_a_port_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("FAIRDISTILL_MLFLOW_PORT", value)
    with pytest.raises(serve.ServeError, match=f"FAIRDISTILL_MLFLOW_PORT='{value}' is not a port"):
        serve.mlflow_url()


def test_the_notification_automation_listens_to_the_flow_s_events_and_is_off_by_default():
    import uuid

    import yaml
    from prefect.automations import Automation

    from app.notify import NOTIFY_FILE
    from tasks.tracking import GATE_FAILED_EVENT, REFRESH_FAILED_EVENT

    definition = yaml.safe_load(NOTIFY_FILE.read_text())
    assert definition["enabled"] is False
    for action in definition["actions"]:
        action["block_document_id"] = str(uuid.uuid4())  # what `serve` fills in
    automation = Automation.model_validate(definition)
    assert automation.trigger.expect == {GATE_FAILED_EVENT, REFRESH_FAILED_EVENT}
    assert automation.actions[0].type == "call-webhook"
