"""Client-capability checks beyond pytest-lsp's defaults, registered in its own registries.

pytest-lsp (``pytest_lsp.checks``) checks a few results against the client's recorded
capabilities (completion items, document links) and a few server-to-client requests
(``workspace/configuration``, ``window/workDoneProgress/create``). This module adds a check for
every other message `wflow lsp` sends, with the same rule: a server message may only use what
the client declared it supports. Each check raises ``AssertionError``; pytest-lsp turns that into
an ``LspSpecificationWarning``, which ``pytest.ini`` makes an error.

What is flagged (the spec's words in brackets):

- a position encoding the client did not offer (UTF-16 is always allowed);
- a semantic-token legend with a type, modifier or format the client does not list;
- semantic tokens over several lines or overlapping each other when the client does not support
  that ("multilineTokenSupport", "overlappingTokenSupport");
- diagnostic fields guarded by a "the client supports/accepts X" capability the client did not
  declare: ``relatedInformation``, ``codeDescription``, ``tags``, ``data``;
- hover and completion documentation in a markup kind the client does not list;
- completion items and document symbols of a kind outside the initial ``Text..Reference`` /
  ``File..Array`` sets when the client gives no value set (a client with a value set "handles
  values outside its set gracefully", so those are not flagged), completion item fields behind
  an undeclared capability (tags, deprecated, insert/replace edits, label details, preselect);
- ``LocationLink`` without ``linkSupport``; hierarchical ``DocumentSymbol`` without
  ``hierarchicalDocumentSymbolSupport``;
- ``CodeAction`` literals without ``codeActionLiteralSupport``, and their ``isPreferred``,
  ``disabled``, ``data`` without the matching support;
- workspace edits using ``documentChanges``, resource operations or change annotations the
  client does not support;
- server-to-client requests and notifications the client does not support (dynamic
  registration of a feature without ``dynamicRegistration``, ``workspace/applyEdit``, refresh
  requests, ``window/showDocument``...), and any method this module does not know.

Not flagged: ``publishDiagnostics``' ``version`` when ``versionSupport`` is false or missing. The
capability says whether the client *interprets* the version; the field is optional and a client
that does not interpret it ignores it, as the spec intends.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pytest_lsp import checks

# Kinds every client supports when it declares no value set (LSP 3.0's initial sets).
INITIAL_COMPLETION_KINDS = range(1, 19)  # Text .. Reference
INITIAL_SYMBOL_KINDS = range(1, 19)  # File .. Array


def cap(caps: types.ClientCapabilities, path: str, default: Any = None) -> Any:
    """A client capability by its snake_case path, ``default`` when absent."""
    value = get_capability(caps, path, default)
    return default if value is None else value


def offered_encodings(caps: types.ClientCapabilities) -> list[str]:
    """The position encodings the client offers, in its order of preference."""
    return [str(getattr(e, "value", e)) for e in cap(caps, "general.position_encodings", [])]


# -- initialize -----------------------------------------------------------------------------


@checks.check_result_for(method=types.INITIALIZE)
def initialize_result(caps: types.ClientCapabilities, result: types.InitializeResult):
    server = result.capabilities
    encoding = server.position_encoding
    encoding = "utf-16" if encoding is None else str(getattr(encoding, "value", encoding))
    assert encoding == "utf-16" or encoding in offered_encodings(caps), (
        f"server chose position encoding {encoding!r}, client offered "
        f"{offered_encodings(caps) or 'none (UTF-16 only)'}"
    )

    provider = server.semantic_tokens_provider
    client_tokens = cap(caps, "text_document.semantic_tokens")
    if provider is not None and client_tokens is not None:
        legend = provider.legend
        missing = [t for t in legend.token_types if t not in client_tokens.token_types]
        assert not missing, f"semantic token types the client does not list: {missing}"
        missing = [m for m in legend.token_modifiers if m not in client_tokens.token_modifiers]
        assert not missing, f"semantic token modifiers the client does not list: {missing}"
        formats = [str(getattr(f, "value", f)) for f in client_tokens.formats or []]
        assert not formats or "relative" in formats, f"client token formats: {formats}"


# -- diagnostics ----------------------------------------------------------------------------


def check_diagnostic(caps: types.ClientCapabilities, d: types.Diagnostic, where: str):
    pd = "text_document.publish_diagnostics"
    if d.related_information:
        assert cap(caps, f"{pd}.related_information", False), (
            f"{where}: diagnostic {d.code!r} has relatedInformation, "
            "the client does not accept related information"
        )
    if d.code_description is not None:
        assert cap(caps, f"{pd}.code_description_support", False), (
            f"{where}: diagnostic {d.code!r} has codeDescription, the client does not support it"
        )
    if d.tags:
        allowed = cap(caps, f"{pd}.tag_support.value_set", [])
        bad = [t for t in d.tags if t not in allowed]
        assert not bad, f"{where}: diagnostic tags {bad} not in the client's {allowed}"
    if d.data is not None:
        assert cap(caps, f"{pd}.data_support", False), (
            f"{where}: diagnostic {d.code!r} has data, the client does not support it"
        )


@checks.check_params_of(method=types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
def publish_diagnostics(caps: types.ClientCapabilities, params: types.PublishDiagnosticsParams):
    assert cap(caps, "text_document.publish_diagnostics") is not None, (
        "the client does not declare textDocument.publishDiagnostics"
    )
    for d in params.diagnostics:
        check_diagnostic(caps, d, "publishDiagnostics")


# -- hover, completion ----------------------------------------------------------------------


def markup_kinds(caps: types.ClientCapabilities, path: str) -> list[types.MarkupKind]:
    # Without the capability a client renders plain text only.
    return list(cap(caps, path, [types.MarkupKind.PlainText]))


@checks.check_result_for(method=types.TEXT_DOCUMENT_HOVER)
def hover(caps: types.ClientCapabilities, result: types.Hover | None):
    if result is None:
        return
    if isinstance(result.contents, types.MarkupContent):
        kinds = markup_kinds(caps, "text_document.hover.content_format")
        assert result.contents.kind in kinds, (
            f"hover in {result.contents.kind.value!r}, the client renders {kinds}"
        )


def check_completion_item(caps: types.ClientCapabilities, item: types.CompletionItem):
    ci = "text_document.completion.completion_item"
    if item.kind is not None:
        value_set = cap(caps, "text_document.completion.completion_item_kind.value_set")
        if value_set is None:
            assert item.kind in INITIAL_COMPLETION_KINDS, (
                f"completion {item.label!r}: kind {item.kind} outside Text..Reference"
            )
    if item.tags:
        allowed = cap(caps, f"{ci}.tag_support.value_set", [])
        assert all(t in allowed for t in item.tags), f"completion tags {item.tags}"
    if item.deprecated is not None:
        assert cap(caps, f"{ci}.deprecated_support", False), "completion `deprecated`"
    if isinstance(item.text_edit, types.InsertReplaceEdit):
        assert cap(caps, f"{ci}.insert_replace_support", False), "InsertReplaceEdit"
    if item.label_details is not None:
        assert cap(caps, f"{ci}.label_details_support", False), "completion labelDetails"
    if item.preselect is not None:
        assert cap(caps, f"{ci}.preselect_support", False), "completion preselect"


# pytest-lsp has its own completion check (commit characters, documentation format, snippets):
# keep it and run ours after it.
_default_completion_check = checks.RESULT_CHECKS.pop(types.TEXT_DOCUMENT_COMPLETION)


@checks.check_result_for(method=types.TEXT_DOCUMENT_COMPLETION)
def completion(caps: types.ClientCapabilities, result):
    _default_completion_check(caps, result)
    if result is None:
        return
    items = result.items if isinstance(result, types.CompletionList) else result
    if isinstance(result, types.CompletionList) and result.item_defaults is not None:
        assert cap(caps, "text_document.completion.completion_list.item_defaults"), (
            "CompletionList.itemDefaults without client support"
        )
    for item in items:
        check_completion_item(caps, item)


# -- navigation -----------------------------------------------------------------------------


def check_locations(caps: types.ClientCapabilities, result, feature: str):
    if result is None:
        return
    items = result if isinstance(result, list) else [result]
    if any(isinstance(x, types.LocationLink) for x in items):
        assert cap(caps, f"text_document.{feature}.link_support", False), (
            f"{feature}: LocationLink without linkSupport"
        )


@checks.check_result_for(method=types.TEXT_DOCUMENT_DEFINITION)
def definition(caps: types.ClientCapabilities, result):
    check_locations(caps, result, "definition")


@checks.check_result_for(method=types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(caps: types.ClientCapabilities, result):
    if not result:
        return
    ds = "text_document.document_symbol"
    value_set = cap(caps, f"{ds}.symbol_kind.value_set")
    allowed = INITIAL_SYMBOL_KINDS if value_set is None else None

    def walk(s):
        if allowed is not None:
            assert s.kind in allowed, f"symbol {s.name!r}: kind {s.kind} outside File..Array"
        if s.tags:
            tags = cap(caps, f"{ds}.tag_support.value_set", [])
            assert all(t in tags for t in s.tags), f"symbol {s.name!r}: tags {s.tags}"
        for child in getattr(s, "children", None) or []:
            walk(child)

    if isinstance(result[0], types.DocumentSymbol):
        assert cap(caps, f"{ds}.hierarchical_document_symbol_support", False), (
            "DocumentSymbol[] without hierarchicalDocumentSymbolSupport"
        )
    for s in result:
        walk(s)


# -- edits ----------------------------------------------------------------------------------


def check_workspace_edit(caps: types.ClientCapabilities, edit: types.WorkspaceEdit | None):
    if edit is None:
        return
    we = "workspace.workspace_edit"
    if edit.document_changes is not None:
        assert cap(caps, f"{we}.document_changes", False), (
            "WorkspaceEdit.documentChanges without client support"
        )
        ops = [c for c in edit.document_changes if not isinstance(c, types.TextDocumentEdit)]
        kinds = cap(caps, f"{we}.resource_operations", [])
        for op in ops:
            assert op.kind in kinds, f"resource operation {op.kind!r}, client has {kinds}"
    if edit.change_annotations:
        assert cap(caps, f"{we}.change_annotation_support") is not None, (
            "WorkspaceEdit.changeAnnotations without client support"
        )


@checks.check_result_for(method=types.TEXT_DOCUMENT_RENAME)
def rename(caps: types.ClientCapabilities, result: types.WorkspaceEdit | None):
    check_workspace_edit(caps, result)


@checks.check_result_for(method=types.TEXT_DOCUMENT_CODE_ACTION)
def code_action(caps: types.ClientCapabilities, result):
    ca = "text_document.code_action"
    for action in result or []:
        if isinstance(action, types.Command):
            continue
        assert cap(caps, f"{ca}.code_action_literal_support") is not None, (
            "CodeAction literal without codeActionLiteralSupport (only Commands allowed)"
        )
        if action.is_preferred is not None:
            assert cap(caps, f"{ca}.is_preferred_support", False), (
                f"code action {action.title!r} sets isPreferred, the client does not support it"
            )
        if action.disabled is not None:
            assert cap(caps, f"{ca}.disabled_support", False), "CodeAction.disabled"
        if action.data is not None:
            assert cap(caps, f"{ca}.data_support", False), "CodeAction.data"
        for d in action.diagnostics or []:
            check_diagnostic(caps, d, f"code action {action.title!r}")
        check_workspace_edit(caps, action.edit)


# -- server-to-client messages ----------------------------------------------------------------

# Requests from the server and the capability that allows each (pytest-lsp checks
# workspace/configuration and window/workDoneProgress/create itself).
SERVER_REQUESTS = {
    types.WORKSPACE_APPLY_EDIT: "workspace.apply_edit",
    types.WORKSPACE_SEMANTIC_TOKENS_REFRESH: "workspace.semantic_tokens.refresh_support",
    types.WORKSPACE_CODE_LENS_REFRESH: "workspace.code_lens.refresh_support",
    types.WORKSPACE_INLAY_HINT_REFRESH: "workspace.inlay_hint.refresh_support",
    types.WORKSPACE_INLINE_VALUE_REFRESH: "workspace.inline_value.refresh_support",
    types.WORKSPACE_DIAGNOSTIC_REFRESH: "workspace.diagnostics.refresh_support",
    types.WORKSPACE_FOLDING_RANGE_REFRESH: "workspace.folding_range.refresh_support",
    types.WORKSPACE_WORKSPACE_FOLDERS: "workspace.workspace_folders",
    types.WINDOW_SHOW_DOCUMENT: "window.show_document.support",
}
ALWAYS_ALLOWED = {
    types.WINDOW_SHOW_MESSAGE_REQUEST,
    types.WINDOW_SHOW_MESSAGE,
    types.WINDOW_LOG_MESSAGE,
    types.TELEMETRY_EVENT,
    types.LOG_TRACE,
    types.PROGRESS,
    types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,  # its params are checked above
    types.WORKSPACE_CONFIGURATION,  # checked by pytest-lsp
    types.WINDOW_WORK_DONE_PROGRESS_CREATE,  # checked by pytest-lsp
}


def check_server_message(caps: types.ClientCapabilities, method: str, params: Any):
    """Any request or notification from the server: is the client able to take it?"""
    if method in ALWAYS_ALLOWED:
        return
    if method in SERVER_REQUESTS:
        assert cap(caps, SERVER_REQUESTS[method], False), (
            f"server sent {method!r}, the client does not support it"
        )
        return
    if method in (types.CLIENT_REGISTER_CAPABILITY, types.CLIENT_UNREGISTER_CAPABILITY):
        regs = getattr(params, "registrations", None) or getattr(params, "unregisterations", [])
        for r in regs:
            path = r.method.replace("textDocument/", "text_document.").replace("/", ".")
            path = "".join("_" + c.lower() if c.isupper() else c for c in path)
            assert cap(caps, f"{path}.dynamic_registration", False), (
                f"dynamic registration of {r.method!r}, the client does not support it"
            )
        return
    raise AssertionError(f"server sent {method!r}, which no recorded client capability allows")
