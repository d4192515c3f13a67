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
        listener.bind((serve.HOST, 0))
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
    monkeypatch.setattr(
        serve, "port_free", lambda port, host=serve.HOST: port != serve.PREFECT_PORT
    )
    launched = []
    monkeypatch.setattr(serve, "_launch", lambda name, env: launched.append(name))
    with pytest.raises(serve.ServeError, match="4200"):
        serve.start(say=lambda _: None)
    assert launched == []
