"""The test client: pytest-lsp's ``LanguageClient`` that also audits every server message.

Each message from `wflow lsp` goes through pytest-lsp's checks (``pytest_lsp.checks``, extended
by ``lsp_checks``) against the client's recorded capabilities, and through a position check
against the text the client holds: every range must lie inside the document, on a code-unit
boundary of the negotiated position encoding. Violations found while reading notifications
are collected in ``client.violations`` (an exception there would only reach pygls' reader);
the tests assert that list is empty after each step.
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient, LanguageClientProtocol, LspSpecificationWarning, checks
from pytest_lsp.client import register_lsp_features

import lsp_checks

TIMEOUT = 20.0  # seconds for any one answer

REPO = Path(__file__).resolve().parents[2]
# The server under test: $WFLOW_BIN (relative to the repo root), by default the debug build.
WFLOW = REPO / os.environ.get("WFLOW_BIN", "target/debug/wflow")


# -- positions in a negotiated encoding ------------------------------------------------------


def units(s: str, encoding: str) -> int:
    """The length of ``s`` in code units of ``encoding``."""
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    if encoding == "utf-16":
        return len(s.encode("utf-16-le")) // 2
    return len(s)  # utf-32: code points


def position(text: str, index: int, encoding: str) -> types.Position:
    """The LSP position of character index ``index`` of ``text``."""
    line = text.count("\n", 0, index)
    start = text.rfind("\n", 0, index) + 1
    return types.Position(line=line, character=units(text[start:index], encoding))


def position_of(text: str, needle: str, encoding: str, after: bool = False) -> types.Position:
    """The position of the one occurrence of ``needle`` (its end with ``after``)."""
    assert text.count(needle) == 1, f"{needle!r} occurs {text.count(needle)} times"
    at = text.index(needle)
    return position(text, at + len(needle) if after else at, encoding)


def range_of(text: str, needle: str, encoding: str) -> types.Range:
    return types.Range(
        start=position_of(text, needle, encoding),
        end=position_of(text, needle, encoding, after=True),
    )


def index_of(text: str, pos: types.Position, encoding: str) -> int:
    """The character index of an LSP position; raises ``ValueError`` if it is not in the text
    or splits a character."""
    lines = text.split("\n")
    if pos.line >= len(lines):
        raise ValueError(f"line {pos.line} is past the last line ({len(lines) - 1})")
    start = sum(len(x) + 1 for x in lines[: pos.line])
    line = lines[pos.line]
    count = 0
    for i, ch in enumerate(line):
        if count == pos.character:
            return start + i
        if count > pos.character:
            break
        count += units(ch, encoding)
    if count == pos.character:
        return start + len(line)
    if count < pos.character:
        raise ValueError(
            f"character {pos.character} is past the end of line {pos.line} ({count} {encoding})"
        )
    raise ValueError(
        f"character {pos.character} of line {pos.line} splits a character in {encoding}"
    )


def apply_edits(text: str, edits: list[types.TextEdit], encoding: str) -> str:
    """Applies non-overlapping text edits, as an editor does (all ranges refer to ``text``)."""
    spans = sorted(
        (
            (
                index_of(text, e.range.start, encoding),
                index_of(text, e.range.end, encoding),
                e.new_text,
            )
            for e in edits
        ),
        reverse=True,
    )
    for i in range(1, len(spans)):
        assert spans[i][1] <= spans[i - 1][0], f"overlapping edits: {spans}"
    for a, b, new in spans:
        text = text[:a] + new + text[b:]
    return text


# -- the client ------------------------------------------------------------------------------


class CheckedProtocol(LanguageClientProtocol):
    """pytest-lsp's protocol, which checks requests from the server and results, plus checks of
    notifications, of unknown server methods and of every range."""

    _server: WflowClient  # type: ignore[assignment]

    def _handle_notification(self, method_name, params):
        self._server.audit(method_name, params)
        if method_name == types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
            self._server.record_diagnostics(params)
        super()._handle_notification(method_name, params)

    def _handle_request(self, msg_id, method_name, params):
        self._server.audit(method_name, params, params_checked=True)
        # pytest-lsp checks the params here; keep its warnings as violations too.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LspSpecificationWarning)
            super()._handle_request(msg_id, method_name, params)
        self._server.violations.extend(str(w.message) for w in caught)

    async def send_request_async(self, method, params=None, msg_id=None):
        result = await super().send_request_async(method, params, msg_id)
        self._server.audit_result(method, params, result)
        return result


class WflowClient(LanguageClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.violations: list[str] = []
        self.stderr: list[str] = []
        self.encoding = "utf-16"
        self.init_result: types.InitializeResult | None = None
        # uri -> {version: text}, the texts the client sent
        self.texts: dict[str, dict[int, str]] = {}
        self.versions: dict[str, int] = {}
        self.published: list[types.PublishDiagnosticsParams] = []
        self._published_event = asyncio.Event()

    # The server's stderr: kept (a panic message fails the test) and forwarded.
    async def start_io(self, cmd: str, *args, **kwargs):
        await super().start_io(cmd, *args, **kwargs)
        if self._stderr_forwarder is not None:
            self._stderr_forwarder.cancel()
        self._stderr_forwarder = asyncio.create_task(self._keep_stderr())

    async def _keep_stderr(self):
        stream = self._server.stderr if self._server else None
        if stream is None:
            return
        while (line := await stream.readline()) != b"":
            self.stderr.append(line.decode("utf-8", "replace"))
            sys.stderr.buffer.write(line)

    async def initialize_session(self, params: types.InitializeParams) -> types.InitializeResult:
        result = await asyncio.wait_for(super().initialize_session(params), TIMEOUT)
        self.init_result = result
        enc = result.capabilities.position_encoding
        self.encoding = "utf-16" if enc is None else str(getattr(enc, "value", enc))
        return result

    # -- auditing ------------------------------------------------------------------------------

    def violation(self, message: str):
        self.violations.append(message)

    def audit(self, method: str, params: Any, params_checked: bool = False):
        """Checks a request or notification from the server."""
        if self.capabilities is None:
            self.violation(f"server sent {method!r} before initialize")
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LspSpecificationWarning)
            try:
                lsp_checks.check_server_message(self.capabilities, method, params)
            except AssertionError as e:
                self.violation(str(e))
            if not params_checked:  # requests: pytest-lsp's protocol checks their params
                checks.check_params_against_client_capabilities(self.capabilities, method, params)
        self.violations.extend(str(w.message) for w in caught)
        if method == types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
            text = self.current_text(params.uri)
            if params.version is not None:
                text = self.texts.get(params.uri, {}).get(params.version)
                if text is None:
                    self.violation(f"diagnostics for {params.uri} v{params.version}, never sent")
                    return
            for d in params.diagnostics:
                self.check_range(params.uri, d.range, f"diagnostic {d.code!r}", text)
                for r in d.related_information or []:
                    self.check_range(r.location.uri, r.location.range, "related information", text)

    def current_text(self, uri: str) -> str | None:
        if uri not in self.texts:
            return None
        return self.texts[uri][self.versions[uri]]

    def check_range(self, uri: str, r: types.Range, what: str, text: str | None = None):
        text = self.current_text(uri) if text is None else text
        if text is None:
            self.violation(f"{what}: range in {uri}, a document the client never opened")
            return
        try:
            a = index_of(text, r.start, self.encoding)
            b = index_of(text, r.end, self.encoding)
        except ValueError as e:
            self.violation(f"{what}: {uri}: {e} (position encoding {self.encoding})")
            return
        if a > b:
            self.violation(f"{what}: range ends before it starts: {r}")

    def audit_result(self, method: str, params: Any, result: Any):
        """Every range in a result lies in its document (results are checked against the
        capabilities by pytest-lsp before this)."""
        if method == types.INITIALIZE or result is None:
            return
        uri = getattr(getattr(params, "text_document", None), "uri", None)
        if method == types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL:
            self.check_semantic_tokens(uri, result)
            return

        def walk(obj: Any, uri: str | None, what: str):
            if isinstance(obj, types.Range):
                self.check_range(uri, obj, what)
            elif isinstance(obj, types.Location):
                self.check_range(obj.uri, obj.range, what)
            elif isinstance(obj, types.WorkspaceEdit):
                for u, edits in (obj.changes or {}).items():
                    walk(edits, u, what)
                for change in obj.document_changes or []:
                    if isinstance(change, types.TextDocumentEdit):
                        walk(change.edits, change.text_document.uri, what)
            elif isinstance(obj, (list, tuple)):
                for x in obj:
                    walk(x, uri, what)
            elif attrs.has(type(obj)):
                for f in attrs.fields(type(obj)):
                    walk(getattr(obj, f.name), uri, what)

        walk(result, uri, method)

    def check_semantic_tokens(self, uri: str, result: types.SemanticTokens):
        text = self.current_text(uri)
        provider = self.init_result.capabilities.semantic_tokens_provider
        legend = provider.legend
        data = list(result.data)
        if len(data) % 5:
            self.violation(f"semantic tokens: {len(data)} integers, not a multiple of 5")
            return
        tokens_cap = lsp_checks.cap(self.capabilities, "text_document.semantic_tokens")
        overlapping = bool(tokens_cap and tokens_cap.overlapping_token_support)
        multiline = bool(tokens_cap and tokens_cap.multiline_token_support)
        lines = text.split("\n")
        line = col = 0
        prev_end = (-1, 0)
        for i in range(0, len(data), 5):
            dl, ds, length, kind, mods = data[i : i + 5]
            line, col = (line + dl, ds) if dl else (line, col + ds)
            where = f"semantic token {i // 5} at {line}:{col}"
            if kind >= len(legend.token_types) or mods >> len(legend.token_modifiers):
                self.violation(f"{where}: type {kind} / modifiers {mods} outside the legend")
            if line >= len(lines):
                self.violation(f"{where}: past the last line")
                continue
            try:
                index_of(text, types.Position(line=line, character=col), self.encoding)
                if not multiline:  # then a token ends on its line
                    index_of(text, types.Position(line=line, character=col + length), self.encoding)
            except ValueError as e:
                self.violation(f"{where}: {e}")
            if not overlapping and (line, col) < prev_end:
                self.violation(f"{where}: overlaps the previous token")
            prev_end = (line, col + length)

    def assert_clean(self):
        assert not self.violations, "server messages the client does not allow:\n" + "\n".join(
            self.violations
        )
        panics = [line for line in self.stderr if "panic" in line.lower()]
        assert not panics, "".join(panics)

    # -- documents -----------------------------------------------------------------------------

    def record_diagnostics(self, params: types.PublishDiagnosticsParams):
        self.published.append(params)
        self._published_event.set()

    def open(self, uri: str, language_id: str, text: str, version: int = 1):
        self.texts[uri] = {version: text}
        self.versions[uri] = version
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=version, text=text
                )
            )
        )

    def change(self, uri: str, new_text: str, edits: list[types.TextEdit] | None = None) -> int:
        """Sends the change from the current text to ``new_text``: as incremental edits when
        given (their ranges refer to the current text, applied last to first, as editors send
        them), else as the full text. Returns the new version."""
        version = self.versions[uri] + 1
        old = self.current_text(uri)
        if edits is None:
            changes = [types.TextDocumentContentChangeWholeDocument(text=new_text)]
        else:
            assert apply_edits(old, edits, self.encoding) == new_text
            ordered = sorted(
                edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
            )
            changes = [
                types.TextDocumentContentChangePartial(range=e.range, text=e.new_text)
                for e in ordered
            ]
        self.texts[uri][version] = new_text
        self.versions[uri] = version
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=changes,
            )
        )
        return version

    async def diagnostics_for(self, uri: str, version: int | None = None) -> list[types.Diagnostic]:
        """The diagnostics published for ``uri`` at ``version`` (default: its current one)."""
        version = self.versions[uri] if version is None else version
        found = await self.published_where(lambda p: p.uri == uri and p.version == version)
        return list(found.diagnostics)

    async def published_where(self, pred) -> types.PublishDiagnosticsParams:
        """The latest diagnostics notification matching ``pred``, waiting for one to come."""

        def find():
            return next((p for p in reversed(self.published) if pred(p)), None)

        async def wait():
            while (p := find()) is None:
                self._published_event.clear()
                await self._published_event.wait()
            return p

        try:
            return await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            got = [(p.uri, p.version) for p in self.published]
            raise AssertionError(f"no such diagnostics; got {got}") from None

    async def ask(self, coro):
        """Awaits a request with a time limit, then asserts no violation so far."""
        result = await asyncio.wait_for(coro, TIMEOUT)
        self.assert_clean()
        return result


def make_client() -> WflowClient:
    client = WflowClient(protocol_cls=CheckedProtocol, converter_factory=default_converter)
    register_lsp_features(client)
    return client


__all__ = [
    "REPO",
    "WFLOW",
    "WflowClient",
    "apply_edits",
    "make_client",
    "position",
    "position_of",
    "range_of",
    "units",
]
