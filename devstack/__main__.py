"""``python -m devstack run|up|down``: behind ``make run``, ``make up`` and ``make down``."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from devstack.stack import Stack, StackError
from shared.settings import DEFAULT_AMQP_URL


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR", ".data"))


def pid_file() -> Path:
    """Where `make up` keeps the supervisor's pid: inside DATA_DIR, like everything else."""
    return data_dir() / "stack.pid"


def stack_from_environment() -> Stack:
    return Stack(
        data_dir=data_dir(),
        gateway_host=os.environ.get("GATEWAY_HOST", "127.0.0.1"),
        mongodb_url=os.environ.get("MONGODB_URL") or None,
        amqp_url=os.environ.get("AMQP_URL", DEFAULT_AMQP_URL),
        mongo_sync_on_commit=os.environ.get("EMBEDDED_DB_SYNC", "").lower() in {"1", "true", "yes"},
    )


def show_progress(checks: dict[str, bool]) -> None:
    if not checks:
        line = "waiting for the gateway…"
    else:
        line = "  ".join(f"{name} {'✓' if ok else '…'}" for name, ok in checks.items())
    print(f"\r\033[K{line}", end="", flush=True)


def run(quiet: bool) -> int:
    stack = stack_from_environment()
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        stack.wait_until_ready(progress=None if quiet else show_progress)
        print(
            f"\r\033[Kready.\n  gateway  {stack.gateway_url}\n  API docs {stack.gateway_url}/docs"
            f"\n  logs     {stack.log_dir}/\nCtrl-C stops everything.",
            flush=True,
        )
        while not stopping:
            stack.check_alive()
            time.sleep(0.5)
    except StackError as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("stopping…", flush=True)
        stack.stop()
        print("stopped.", flush=True)
    return 0


def up() -> int:
    pid_path = pid_file()
    if pid_path.exists() and _alive(int(pid_path.read_text())):
        print(f"already running (pid {pid_path.read_text().strip()}); 'make down' stops it")
        return 0
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    (pid_path.parent / "logs").mkdir(exist_ok=True)
    with (pid_path.parent / "logs" / "stack.log").open("ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run", "--quiet"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_path.write_text(str(supervisor.pid))
    stack = stack_from_environment()
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        if supervisor.poll() is not None:
            print(f"\nthe stack failed to start; see {stack.log_dir}/stack.log", file=sys.stderr)
            return 1
        checks = stack.readiness()
        show_progress(checks)
        if checks and all(checks.values()):
            print(f"\r\033[Kready: {stack.gateway_url} (docs at {stack.gateway_url}/docs)")
            return 0
        time.sleep(0.3)
    print("\nnot ready in time; 'make down' stops it", file=sys.stderr)
    return 1


def down() -> int:
    pid_path = pid_file()
    if not pid_path.exists():
        print("not running")
        return 0
    pid = int(pid_path.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    pid_path.unlink(missing_ok=True)
    print("stopped")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our child that exited) is not running.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start everything in the foreground; Ctrl-C stops")
    run_parser.add_argument("--quiet", action="store_true")
    sub.add_parser("up", help="start everything in the background")
    sub.add_parser("down", help="stop what 'up' started")
    args = parser.parse_args()
    if args.command == "run":
        return run(args.quiet)
    return up() if args.command == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
