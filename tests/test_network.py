"""The one requests session that MSAL and the sources share: its timeout applies to every
request that gives none (MSAL gives none)."""

import socket
import threading
import time

import pytest
import requests

from check_entra_noninteractive.network import HttpSettings, describe_error


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers: only a read timeout ends a
    request to it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except socket.timeout:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def timed(call):
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout) as raised:
        call()
    return time.monotonic() - started, raised.value


def test_a_request_without_timeout_gets_the_settings_timeout(silent_server):
    session = HttpSettings(timeout=0.3).session()
    seconds, error = timed(lambda: session.get(silent_server))
    assert 0.25 <= seconds < 2
    assert describe_error(error, "graph.example") == \
        "graph.example did not answer in time (read timeout)"


def test_an_explicit_timeout_wins(silent_server):
    session = HttpSettings(timeout=30).session()
    seconds, _ = timed(lambda: session.post(silent_server, data=b"x", timeout=0.3))
    assert 0.25 <= seconds < 2
