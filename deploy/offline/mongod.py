"""``mongod`` for the SecantusDB stand-in of the ``mongo`` image (deploy/offline-images.sh).

Takes the mongod flags the compose file and test tools pass (``--port``, ``--bind_ip``,
``--bind_ip_all``, ``--dbpath``, ``--replSet``) and runs SecantusDB with them; any other flag is
handed to SecantusDB as it is. SecantusDB always answers as a one-member replica set (named
``secantus``), so ``--replSet`` only names what clients should not rely on: connect with
``directConnection=true``. Once the port answers it logs mongod's "Waiting for connections" line,
which tools wait for. SIGTERM and SIGINT are passed on; the exit code is SecantusDB's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["mongod"]:
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="mongod (SecantusDB stand-in)")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--bind_ip", default="127.0.0.1")
    parser.add_argument("--bind_ip_all", action="store_true")
    parser.add_argument("--dbpath", default="/data/db")
    parser.add_argument("--replSet", help="accepted; SecantusDB's set is always 'secantus'")
    args, rest = parser.parse_known_args(argv)
    host = "0.0.0.0" if args.bind_ip_all else args.bind_ip.split(",")[0]
    # SecantusDB with the fixes the development stack runs it with (devstack/secantusd.py).
    secantusd = Path(__file__).with_name("secantusd.py")
    command = [sys.executable, str(secantusd), "--host", host, "--port", str(args.port)]
    command += ["--storage-path", args.dbpath]
    command += ["--log-level", os.environ.get("SECANTUS_LOG_LEVEL", "WARNING"), *rest]
    child = subprocess.Popen(command)  # noqa: S603 (our own flags and the operator's)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    while child.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
            continue
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        line = {"t": {"$date": now}, "s": "I", "c": "NETWORK", "msg": "Waiting for connections"}
        print(json.dumps(line | {"attr": {"port": args.port}}), flush=True)
        break
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
