"""Editor sessions against `wflow lsp`, once per recorded client (see conftest.py).

Every position below is computed in the encoding the server negotiated with that client, on
text with non-ASCII characters before the interesting spot, so a server counting columns in
the wrong unit fails. Every server message also goes through the capability checks of
pytest-lsp and ``lsp_checks`` (see wflow_client.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from lsprotocol import types

from lsp_checks import cap
from wflow_client import REPO, WFLOW, WflowClient, apply_edits, position, range_of, units

CORPUS = REPO / "tests" / "corpus" / "valid"

# The example of docs/language.md, cut down, with three mistakes and non-ASCII text before
# two of them: a duplicated field (its diagnostic has related information: the first one), a
# misspelt field and a misspelt node, each with a did-you-mean quick fix.
BROKEN = """\
// Deploy a service (déploiement 🚀): non-ASCII text moves UTF-8 and UTF-16 columns apart.
workflow deploy-service "Deploy Service" {
  description "Deploy a service."
  category "Deployments"
  description "Déployer un service 🚀"

  form trigger "Deployment Request" {
    input service: string "Service"
    input environment: string "Environment" { enum ["staging", "production"] }
  }

  webhook deploy "Déployer 🚀" { url "https://api.example.com/deploy/{{ .outputs.trigger.service }}"; methd POST }

  webhook notify "Notify ✉️" {
    url "https://hooks.example.com/{{ .outputs.trigger.environment }}"
    body { status: "{{ .outputs.deploy.response.status }}" }
  }

  flow {
    trigger -> deploy -> notfy
  }
}
"""
DUPLICATE_LINE = '  description "Déployer un service 🚀"\n'
FIXED = BROKEN.replace("methd", "method").replace("notfy", "notify")
CLEAN = FIXED.replace(DUPLICATE_LINE, "")


def sub_range(text: str, context: str, word: str, encoding: str) -> types.Range:
    """The range of ``word`` inside the one occurrence of ``context``."""
    assert text.count(context) == 1, context
    at = text.index(context) + context.index(word)
    return types.Range(
        start=position(text, at, encoding), end=position(text, at + len(word), encoding)
    )


def doc(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def supports_semantic_tokens(client: WflowClient) -> bool:
    tokens = client.capabilities.text_document and client.capabilities.text_document.semantic_tokens
    return bool(tokens and tokens.requests and tokens.requests.full)


async def fix_each(client: WflowClient, uri: str, diagnostics, expected_titles: dict[str, str]):
    """Asks for code actions at each diagnostic, as an editor does with the cursor on the
    squiggle, and applies the quick fix of each one named in ``expected_titles``
    (code -> title); returns the new version."""
    edits = []
    for d in diagnostics:
        actions = await client.ask(
            client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=doc(uri),
                    range=d.range,
                    context=types.CodeActionContext(
                        diagnostics=[d], trigger_kind=types.CodeActionTriggerKind.Invoked
                    ),
                )
            )
        )
        if d.code not in expected_titles:
            assert not actions, f"{d.code} has no mechanical fix: {actions}"
            continue
        assert [a.title for a in actions] == [expected_titles[d.code]], actions
        (action,) = actions
        assert action.kind == types.CodeActionKind.QuickFix
        preferred = cap(client.capabilities, "text_document.code_action.is_preferred_support")
        assert action.is_preferred is (True if preferred else None), action
        assert [x.code for x in action.diagnostics or []] == [d.code]
        assert list(action.edit.changes) == [uri], action.edit
        edits.extend(action.edit.changes[uri])
    text = client.current_text(uri)
    return client.change(uri, apply_edits(text, edits, client.encoding), edits)


async def shutdown(client: WflowClient):
    await client.ask(client.shutdown_session())
    assert client._server.returncode == 0, f"exit code {client._server.returncode}"
    client.assert_clean()


async def test_wflow_session(client: WflowClient, tmp_path: Path):
    enc = client.encoding
    uri = (tmp_path / "deploy.wflow").as_uri()

    # didOpen a file with three mistakes.
    client.open(uri, "wflow", BROKEN)
    diags = sorted(await client.diagnostics_for(uri, 1), key=lambda d: d.range.start.line)
    client.assert_clean()
    assert [d.code for d in diags] == ["duplicate-field", "unknown-field", "unknown-node"], diags
    assert all(d.severity == types.DiagnosticSeverity.Error for d in diags)
    assert all(d.source == "wflow" for d in diags)
    dup, field, node = diags
    assert dup.range == sub_range(BROKEN, DUPLICATE_LINE, "description", enc)
    assert field.range == range_of(BROKEN, "methd", enc)
    assert "did you mean `method`?" in field.message
    assert node.range == range_of(BROKEN, "notfy", enc)
    assert "did you mean `notify`?" in node.message
    # "first given here", for clients that accept related information (eglot does not).
    if cap(client.capabilities, "text_document.publish_diagnostics.related_information"):
        (first,) = dup.related_information
        assert first.location.uri == uri
        assert first.location.range == sub_range(
            BROKEN, '  description "Deploy a service."', "description", enc
        )

    # Code actions: the two quick fixes, applied as incremental edits.
    version = await fix_each(
        client,
        uri,
        diags,
        {
            "unknown-field": "Replace `methd` with `method`",
            "unknown-node": "Replace `notfy` with `notify`",
        },
    )
    assert client.current_text(uri) == FIXED
    assert [d.code for d in await client.diagnostics_for(uri, version)] == ["duplicate-field"]

    # didChange: delete the duplicated line; the diagnostics clear.
    at = FIXED.index(DUPLICATE_LINE)
    gone = types.TextEdit(
        range=types.Range(
            start=position(FIXED, at, enc), end=position(FIXED, at + len(DUPLICATE_LINE), enc)
        ),
        new_text="",
    )
    version = client.change(uri, CLEAN, [gone])
    assert await client.diagnostics_for(uri, version) == []
    text = CLEAN

    # Hover on a node reference in the flow.
    ref = sub_range(text, "trigger -> deploy -> notify", "deploy", enc)
    hover = await client.ask(
        client.text_document_hover_async(
            types.HoverParams(text_document=doc(uri), position=ref.start)
        )
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent), hover
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value.startswith("**webhook** `deploy` — Déployer 🚀"), hover
    assert hover.range == ref

    # Go to definition: from the flow to the node.
    target = sub_range(text, "trigger -> deploy -> notify", "notify", enc)
    loc = await client.ask(
        client.text_document_definition_async(
            types.DefinitionParams(text_document=doc(uri), position=target.start)
        )
    )
    assert isinstance(loc, types.Location), loc
    assert loc.uri == uri
    assert loc.range == sub_range(text, 'webhook notify "Notify ✉️"', "notify", enc)

    # References of `deploy`: its declaration, the flow and the jq that reads its outputs.
    refs = await client.ask(
        client.text_document_references_async(
            types.ReferenceParams(
                text_document=doc(uri),
                position=ref.start,
                context=types.ReferenceContext(include_declaration=True),
            )
        )
    )
    assert sorted((r.range.start.line, r.range.start.character) for r in refs) == sorted(
        (r.start.line, r.start.character)
        for r in (
            sub_range(text, 'webhook deploy "Déployer', "deploy", enc),
            ref,  # once, though it ends one connection and starts the next
            sub_range(text, "{{ .outputs.deploy.response", "deploy", enc),
        )
    ), refs

    # Document symbols: the workflow and its nodes.
    symbols = await client.ask(
        client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc(uri))
        )
    )
    assert [s.name for s in symbols] == ["deploy-service"]
    children = symbols[0].children
    assert [c.name for c in children] == ["trigger", "deploy", "notify"]
    assert children[1].selection_range == sub_range(text, 'webhook deploy "Déployer', "deploy", enc)

    # Semantic tokens for the jq in templates, for clients that ask for them.
    if supports_semantic_tokens(client):
        tokens = await client.ask(
            client.text_document_semantic_tokens_full_async(
                types.SemanticTokensParams(text_document=doc(uri))
            )
        )
        legend = client.init_result.capabilities.semantic_tokens_provider.legend
        decoded, line, col = [], 0, 0
        data = tokens.data
        for i in range(0, len(data), 5):
            line, col = (line + data[i], data[i + 1]) if data[i] else (line, col + data[i + 1])
            decoded.append((line, col, data[i + 2], legend.token_types[data[i + 3]]))
        # `.outputs` in the deploy node, after "Déployer 🚀" on the same line.
        at = sub_range(text, "deploy/{{ .outputs.trigger", ".outputs", enc).start
        assert (at.line, at.character, units(".outputs", enc), "property") in decoded, decoded

    # Completion after `.outputs.` in a new template.
    line = '    headers { "X-Run": "{{ .outputs. }}" }\n'
    body = '    body { status: "{{ .outputs.deploy.response.status }}" }\n'
    typing = text.replace(body, body + line)
    version = client.change(uri, typing)
    await client.diagnostics_for(uri, version)
    client.assert_clean()
    items = await client.ask(
        client.text_document_completion_async(
            types.CompletionParams(
                text_document=doc(uri),
                position=sub_range(typing, '"{{ .outputs. }}"', "{{ .outputs.", enc).end,
                context=types.CompletionContext(
                    trigger_kind=types.CompletionTriggerKind.TriggerCharacter, trigger_character="."
                ),
            )
        )
    )
    items = items.items if isinstance(items, types.CompletionList) else items
    labels = [i.label for i in items]
    assert "trigger" in labels and "deploy" in labels, labels
    version = client.change(uri, text)
    assert await client.diagnostics_for(uri, version) == []

    # Formatting: the same text as `wflow fmt`, applied as the edits say; then a no-op.
    options = types.FormattingOptions(tab_size=2, insert_spaces=True)
    edits = await client.ask(
        client.text_document_formatting_async(
            types.DocumentFormattingParams(text_document=doc(uri), options=options)
        )
    )
    assert edits, "the one-line webhook is laid out on several lines"
    formatted = apply_edits(text, edits, enc)
    on_disk = tmp_path / "fmt.wflow"
    on_disk.write_text(text, encoding="utf-8")
    subprocess.run([str(WFLOW), "fmt", str(on_disk)], check=True, capture_output=True)
    assert formatted == on_disk.read_text(encoding="utf-8")
    version = client.change(uri, formatted, edits)
    assert await client.diagnostics_for(uri, version) == []
    text = formatted
    again = await client.ask(
        client.text_document_formatting_async(
            types.DocumentFormattingParams(text_document=doc(uri), options=options)
        )
    )
    assert again is not None and list(again) == [], again

    # Rename `deploy` (at its declaration) to `ship`: declaration, flow and jq.
    decl = sub_range(text, 'webhook deploy "Déployer', "deploy", enc)
    edit = await client.ask(
        client.text_document_rename_async(
            types.RenameParams(text_document=doc(uri), position=decl.start, new_name="ship")
        )
    )
    edits = (
        list(edit.changes[uri])
        if edit.changes
        else [e for c in edit.document_changes for e in c.edits if c.text_document.uri == uri]
    )
    renamed = apply_edits(text, edits, enc)
    assert renamed == text.replace("webhook deploy ", "webhook ship ").replace(
        "-> deploy ->", "-> ship ->"
    ).replace(".outputs.deploy.", ".outputs.ship."), renamed
    version = client.change(uri, renamed, edits)
    assert await client.diagnostics_for(uri, version) == []

    # didClose clears the document's diagnostics.
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=doc(uri)))
    closed = await client.published_where(lambda p: p.uri == uri and p.version is None)
    assert list(closed.diagnostics) == []
    await shutdown(client)


def broken_port_json() -> tuple[str, str]:
    """A valid Port JSON workflow from the corpus with two mistakes after non-ASCII text."""
    valid = (CORPUS / "api-envelope.json").read_text(encoding="utf-8")
    broken = (
        valid.replace('"targetIdentifier": "cleanup"', '"targetIdentifier": "cleanp"')
        .replace("/api/environments/", "/api/ümgebungen-😀/")
        .replace(',\n          "method": "DELETE"', ', "methd": "DELETE"')
    )
    assert broken.count("methd") == 1 and broken.count("cleanp") == 1
    return valid, broken


async def test_port_json_session(client: WflowClient, tmp_path: Path):
    enc = client.encoding
    uri = (tmp_path / "cleanup.json").as_uri()
    valid, broken = broken_port_json()

    client.open(uri, "json", broken)
    diags = sorted(await client.diagnostics_for(uri, 1), key=lambda d: d.range.start.line)
    client.assert_clean()
    assert [(d.code, d.severity) for d in diags] == [
        ("unknown-field", types.DiagnosticSeverity.Warning),
        ("unknown-node", types.DiagnosticSeverity.Error),
    ], diags
    assert diags[0].range == range_of(broken, '"methd"', enc)
    assert diags[1].range == range_of(broken, '"cleanp"', enc)

    version = await fix_each(
        client,
        uri,
        diags,
        {
            "unknown-field": "Replace `methd` with `method`",
            "unknown-node": "Replace `cleanp` with `cleanup`",
        },
    )
    fixed = client.current_text(uri)
    assert '"method": "DELETE"' in fixed and '"targetIdentifier": "cleanup"' in fixed
    assert await client.diagnostics_for(uri, version) == []

    # JSON syntax errors are reported, and clear again.
    version = client.change(uri, valid[: valid.index('"connections"')])
    diags = await client.diagnostics_for(uri, version)
    assert diags and {d.code for d in diags} == {"json-syntax"}, diags
    version = client.change(uri, valid)
    assert await client.diagnostics_for(uri, version) == []

    symbols = await client.ask(
        client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc(uri))
        )
    )
    assert [s.name for s in symbols] == ["cleanup-environment"], symbols

    # Port JSON is not reformatted: no edits.
    edits = await client.ask(
        client.text_document_formatting_async(
            types.DocumentFormattingParams(
                text_document=doc(uri),
                options=types.FormattingOptions(tab_size=2, insert_spaces=True),
            )
        )
    )
    assert not edits
    await shutdown(client)


async def test_valid_corpus(client: WflowClient):
    """Every file of tests/corpus/valid opens clean; symbols, semantic tokens and formatting
    answer within the client's capabilities on all of them."""
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".wflow", ".json"))
    assert len(files) > 10
    for p in files:
        client.open(
            p.as_uri(), "json" if p.suffix == ".json" else "wflow", p.read_text(encoding="utf-8")
        )
    semantic = supports_semantic_tokens(client)
    for p in files:
        uri = p.as_uri()
        assert await client.diagnostics_for(uri, 1) == [], p.name
        symbols = await client.ask(
            client.text_document_document_symbol_async(
                types.DocumentSymbolParams(text_document=doc(uri))
            )
        )
        assert symbols, p.name
        if semantic:
            await client.ask(
                client.text_document_semantic_tokens_full_async(
                    types.SemanticTokensParams(text_document=doc(uri))
                )
            )
        if p.suffix == ".wflow":
            edits = await client.ask(
                client.text_document_formatting_async(
                    types.DocumentFormattingParams(
                        text_document=doc(uri),
                        options=types.FormattingOptions(tab_size=2, insert_spaces=True),
                    )
                )
            )
            assert edits is not None and list(edits) == [], (
                f"{p.name} is formatted (`wflow fmt --check` in CI)"
            )
    await shutdown(client)
