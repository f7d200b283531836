"""Subprocess mode: serve a FakeMicrosoft until SIGTERM/SIGINT, then exit 0.

    python tests/fake_microsoft --config cfg.json --ready-file ready.json
    (or, with tests/ on sys.path: python -m fake_microsoft ...)

cfg.json holds FakeMicrosoft's keyword arguments, with ``records_file`` (a Graph-shaped
JSON file or JSON Lines) in place of ``records``.  Once both servers listen, the ready
file (written atomically) holds ``authority_host``, ``graph_url``, ``ca_bundle``,
``proxy_port``, ``management_url``, ``log_analytics_url`` and ``control_url``;
``FakeControl(info)`` reads the request log and resets the throttle through the latter.
"""

import argparse
import json
import os
import signal
import sys
import threading

if not __package__:
    # Run as a directory (python tests/fake_microsoft): import the package from tests/
    # rather than its modules as top-level ones.
    _HERE = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
        sys.path[0] = os.path.dirname(_HERE)
    else:
        sys.path.insert(0, os.path.dirname(_HERE))

from fake_microsoft.graph import load_records  # noqa: E402
from fake_microsoft.server import FakeMicrosoft  # noqa: E402


def ready_info(fake):
    return {"authority_host": fake.authority_host, "graph_url": fake.graph_url,
            "ca_bundle": fake.ca_bundle, "proxy_port": fake.proxy_port,
            "management_url": fake.management_url,
            "log_analytics_url": fake.log_analytics_url, "control_url": fake.control_url}


def _write_atomically(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve the local fake of Microsoft's "
                                     "endpoints until SIGTERM.")
    parser.add_argument("--config", required=True, help="JSON file with FakeMicrosoft arguments")
    parser.add_argument("--ready-file", required=True,
                        help="write the URLs and the CA path here once listening")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        config = json.load(fh)
    records = load_records(config.pop("records_file", None))

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with FakeMicrosoft(records=records, **config) as fake:
        _write_atomically(args.ready_file, ready_info(fake))
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
