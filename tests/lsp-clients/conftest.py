"""`wflow lsp` driven as each real editor whose capabilities pytest-lsp ships.

The recorded clients are discovered from the installed pytest-lsp package
(``pytest_lsp/clients/*.json``: ``InitializeParams`` captured from VS Code, Neovim, Emacs...),
so a new pytest-lsp release with more recordings tests them too. Each test gets a fresh server
(``$WFLOW_BIN lsp``, default ``target/debug/wflow``; a relative path is taken from the repo root)
initialized with one recording's ``clientInfo`` and ``capabilities``.
"""

from __future__ import annotations

import asyncio
import json
import os
from importlib import resources
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from lsprotocol.converters import get_converter
from pytest_lsp import ClientServerConfig

from wflow_client import TIMEOUT, WFLOW, WflowClient, make_client

RECORDINGS = sorted(
    (f for f in resources.files("pytest_lsp.clients").iterdir() if f.name.endswith(".json")),
    key=lambda f: f.name,
)


def pytest_configure(config):
    if not RECORDINGS:
        raise pytest.UsageError("the installed pytest-lsp ships no client capability files")
    if not os.access(WFLOW, os.X_OK):
        raise pytest.UsageError(f"no wflow binary at {WFLOW}: build it or set WFLOW_BIN")


def recorded_params(recording) -> types.InitializeParams:
    """A recording as the client's ``initialize`` params (``clientInfo`` and
    ``capabilities`` as recorded)."""
    return get_converter().structure(json.loads(recording.read_text()), types.InitializeParams)


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[str(WFLOW), "lsp"], client_factory=make_client),
    params=RECORDINGS,
    ids=[f.name.removesuffix(".json") for f in RECORDINGS],
)
async def client(request, tmp_path: Path, lsp_client: WflowClient):
    params = recorded_params(request.param)
    params.root_uri = tmp_path.as_uri()
    if params.capabilities.workspace and params.capabilities.workspace.workspace_folders:
        params.workspace_folders = [types.WorkspaceFolder(uri=tmp_path.as_uri(), name="work")]
    await lsp_client.initialize_session(params)
    lsp_client.assert_clean()
    yield
    # Tests end with their own shutdown/exit; this one is for a test that failed midway.
    server = lsp_client._server
    if server is not None and server.returncode is None:
        try:
            await asyncio.wait_for(lsp_client.shutdown_session(), TIMEOUT)
        except Exception:
            server.kill()
