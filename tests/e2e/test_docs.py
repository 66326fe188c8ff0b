"""Every curl example of docs/api.md runs as written against the stack (only the gateway's
address is put in for ``http://127.0.0.1:8000``): no step fails, no answer is a 5xx."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from devstack.stack import Stack
from tests.support import ROOT

# Each request's status goes to stderr, where the test reads it; stdout stays what the reader
# of the docs sees (and what the examples pipe into python3). No pipefail: `curl ... | head`
# is how a reader looks at /metrics, and head closing the pipe is not a failure.
PRELUDE = """set -eu
curl() { command curl -w '%{stderr}HTTP %{http_code}\\n' "$@"; }
"""


def doc_examples(path: Path) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", path.read_text(), flags=re.DOTALL)


async def test_every_api_example_runs_as_written(stack: Stack, tmp_path: Path) -> None:
    blocks = doc_examples(ROOT / "docs" / "api.md")
    assert len(blocks) >= 5
    script = PRELUDE + "\n".join(blocks)
    script = script.replace("http://127.0.0.1:8000", stack.gateway_url)
    # The live stream never ends by itself: watch it for two seconds, as a reader would.
    script = script.replace("curl -sN ", "timeout 2 curl -sN ").replace(
        '-H "$AUTH"\n# ...and', '-H "$AUTH" || true\n# ...and'
    )
    result = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    statuses = [int(code) for code in re.findall(r"^HTTP (\d{3})$", result.stderr, re.MULTILINE)]
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(statuses) >= 40, result.stderr[-2000:]
    assert all(status < 500 for status in statuses), statuses
    # Spot checks that the walk-through did what it says.
    assert '"email":"eve@example.com"' in result.stdout
    assert "date" in (tmp_path / "expenses.csv").read_text().splitlines()[0].split(",")
