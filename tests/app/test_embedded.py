"""Embedded mode's temporary Prefect server: the port it is given. (Its start, its naming to the
flow's processes and its end with the command are tested through `fairdistill refresh` in
tests/flows/test_faults.py.)"""

import socket

import pytest

from app import embedded


def test_free_port_is_in_prefects_range_and_free():
    port = embedded.free_port()
    assert port in embedded.SERVER_PORTS
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_free_port_skips_a_taken_port_and_says_what_to_do_when_none_is_left(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        monkeypatch.setattr(embedded, "SERVER_PORTS", range(port, port + 1))
        with pytest.raises(RuntimeError, match=f"no free port in {port}–{port}.*PREFECT_API_URL"):
            embedded.free_port()
