"""wflow's MCP server through a real MCP client (the `mcp` package, pinned in requirements.txt)
and the shipped binary: `wflow mcp` on stdio, and `/mcp` of `wflow serve --auth` over streamable
HTTP, with a loopback server receiving the workflows' webhooks.

Usage: python3 tests/mcp/test_mcp.py path/to/wflow
Prints one line per test and `mcp: N passed, N failed`; exits 1 when a test failed.
"""

import asyncio
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

WFLOW = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/wflow")

DEV = "token-developer-0123456789"
LEAD = "token-lead-0123456789abcdef"
GUEST = "token-guest-0123456789abcd"
SECRET = "s3cr3t-value-never-shown-42"

USERS = {
    "users": [
        {"token": DEV, "email": "dev@acme.io", "roles": ["Member"]},
        {"token": LEAD, "email": "lead@acme.io", "roles": ["Member"], "teams": ["platform"]},
        {"token": GUEST, "email": "guest@acme.io", "roles": ["Guest"]},
    ]
}


def workflows(base):
    """A deploy form whose webhook reaches `base` with a secret header, and a change that
    pauses for the platform team's approval."""
    return {
        "deploy.wflow": f'''workflow deploy "Deploy a Service" {{
  description "Deploys a service to an environment"
  form trigger "Deploy" {{
    permissions {{ roles ["Member"] }}
    input service: string "Service" {{ description "The service to deploy"; pattern "^[a-z]+$" }}
    input env: string "Environment" {{ enum ["dev", "prod"] }}
    input replicas?: number "Replicas" {{ minimum 1; maximum 10; default 2 }}
  }}
  webhook announce "Announce" {{
    url "{base}/deploy"
    headers {{ Authorization: "Bearer {{{{ .secrets.token }}}}" }}
    body {{ service: "{{{{ .outputs.trigger.service }}}}", env: "{{{{ .outputs.trigger.env }}}}" }}
  }}
  flow {{ trigger -> announce }}
}}
''',
        "change.wflow": f'''workflow change "Change Production" {{
  form trigger "Change" {{
    permissions {{ roles ["Member"] }}
    input what: string "What"
  }}
  approval review "Review" {{
    button approve "Approve" PRIMARY {{ needs 1 }}
    button reject "Reject" DANGER {{ needs 1 }}
    responders {{ teams ["platform"] }}
  }}
  webhook apply "Apply" {{ url "{base}/apply" }}
  webhook dropped "Dropped" {{ url "{base}/dropped" }}
  flow {{
    trigger -> review
    review.approve -> apply
    review.reject -> dropped
  }}
}}
''',
    }


class Outside:
    """A loopback server recording each request: (path, headers, body)."""

    def __init__(self):
        self.received = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.put((self.path, dict(self.headers), body.decode()))
                answer = json.dumps({"deployed": True, "id": 7}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


class Project:
    """A scratch directory with the workflows, the users and the secrets."""

    def __init__(self, base):
        self.dir = tempfile.mkdtemp(prefix="wflow-mcp-")
        os.makedirs(os.path.join(self.dir, "workflows"))
        for name, text in workflows(base).items():
            with open(os.path.join(self.dir, "workflows", name), "w") as f:
                f.write(text)
        self.users = os.path.join(self.dir, "users.json")
        with open(self.users, "w") as f:
            json.dump(USERS, f)
        self.secrets = os.path.join(self.dir, "secrets")
        with open(self.secrets, "w") as f:
            f.write(f"token={SECRET}\n")
        self.store = os.path.join(self.dir, "wflow.db")

    def args(self):
        return [os.path.join(self.dir, "workflows"), "--store", self.store,
                "--secrets-file", self.secrets]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def env():
    e = dict(os.environ, NO_COLOR="1")
    e.pop("WFLOW_CONFIG", None)
    return e


class Serving:
    """`wflow serve --auth` on a free loopback port; its stderr is kept."""

    def __init__(self, project):
        self.proc = subprocess.Popen(
            [WFLOW, "serve", *project.args(), "--auth", project.users, "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env(), text=True)
        self.log = []
        deadline = time.time() + 60
        self.url = None
        while self.url is None:
            line = self.proc.stderr.readline()
            if not line or time.time() > deadline:
                raise AssertionError("wflow serve did not start:\n" + "".join(self.log))
            self.log.append(line)
            if line.startswith("serving ") and " on http://" in line:
                self.url = "http://" + line.strip().split(" on http://", 1)[1]
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def http_session(url, token):
    """An MCP client session over streamable HTTP with `token`, as an async context."""

    class Session:
        async def __aenter__(self):
            headers = {"Authorization": f"Bearer {token}"} if token else None
            self.http = create_mcp_http_client(headers=headers)
            self.transport = streamable_http_client(f"{url}/mcp", http_client=self.http)
            read, write = await self.transport.__aenter__()
            self.session = ClientSession(read, write)
            await self.session.__aenter__()
            await self.session.initialize()
            return self.session

        async def __aexit__(self, *exc):
            await self.session.__aexit__(*exc)
            await self.transport.__aexit__(*exc)
            await self.http.aclose()

    return Session()


def answer(result):
    """A tool result's JSON (its structured content, else its text)."""
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def run_to_end(session, run_id, seconds=15):
    """Reads the run with get_run until it completed."""
    deadline = time.time() + seconds
    while True:
        result = await session.call_tool("get_run", {"run": run_id})
        assert not result.is_error, result
        run = answer(result)["run"]
        if run["status"] == "COMPLETED" or time.time() > deadline:
            return run
        await asyncio.sleep(0.1)


def names(tools):
    return sorted(t.name for t in tools.tools)


# The tests.

async def test_stdio_session_lists_tools_and_runs(outside, project):
    params = StdioServerParameters(command=WFLOW, args=["mcp", *project.args()], env=env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            assert names(tools) == ["change", "deploy", "get_run", "list_runs_waiting_for_me"], \
                names(tools)
            deploy = next(t for t in tools.tools if t.name == "deploy")
            schema = deploy.input_schema
            assert schema["type"] == "object"
            assert sorted(schema["required"]) == ["env", "service"], schema
            assert schema["properties"]["env"]["enum"] == ["dev", "prod"], schema
            assert schema["properties"]["service"]["description"] == "The service to deploy"
            assert schema["properties"]["service"]["pattern"] == "^[a-z]+$"
            assert schema["properties"]["replicas"]["default"] == 2
            assert schema["properties"]["replicas"]["minimum"] == 1
            assert schema["additionalProperties"] is False
            assert "Deploys a service to an environment" in deploy.description
            # A local admin runs it; the run is read back to SUCCESS.
            result = await session.call_tool("deploy", {"service": "stdio", "env": "dev"})
            assert not result.is_error, result
            run = await run_to_end(session, answer(result)["run"]["identifier"])
            assert (run["status"], run["result"]) == ("COMPLETED", "SUCCESS"), run
            assert run["createdBy"] is None, run
    path, _, body = outside.received.get(timeout=10)
    assert path == "/deploy" and json.loads(body)["service"] == "stdio", body


async def test_stdio_as_a_user_of_the_auth_file(outside, project):
    params = StdioServerParameters(
        command=WFLOW, args=["mcp", *project.args(), "--auth", project.users, "--as", "guest@acme.io"],
        env=env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            assert names(tools) == ["get_run", "list_runs_waiting_for_me"], names(tools)
            refused = await session.call_tool("deploy", {"service": "x", "env": "dev"})
            assert refused.is_error and answer(refused)["error"] == "not_found", refused
    # --auth without --as is refused before any protocol frame.
    out = subprocess.run([WFLOW, "mcp", *project.args(), "--auth", project.users],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env(),
                         timeout=60)
    assert out.returncode != 0 and out.stdout == "", out
    assert "--as EMAIL" in out.stderr, out.stderr


async def test_http_bad_input_names_each_field(serving):
    async with http_session(serving.url, DEV) as session:
        tools = await session.list_tools()
        assert names(tools) == ["change", "deploy", "get_run", "list_runs_waiting_for_me"], \
            names(tools)
        result = await session.call_tool("deploy", {"service": "Bad Name", "replicas": 50})
        assert result.is_error, result
        error = answer(result)
        assert error["error"] == "invalid_request", error
        problems = {p["pointer"]: p["message"] for p in error["problems"]}
        assert set(problems) == {"/service", "/replicas", "/env"}, problems
        assert "pattern" in problems["/service"], problems
        assert "required" in problems["/env"] and "the tool's arguments" in problems["/env"]
        unknown = await session.call_tool("deploy", {"service": "a", "env": "dev", "colour": 1})
        assert unknown.is_error
        assert [p["pointer"] for p in answer(unknown)["problems"]] == ["/colour"]
        bad_read = await session.call_tool("get_run", {})
        assert bad_read.is_error and answer(bad_read)["problems"][0]["pointer"] == "/run"


async def test_http_run_to_success_and_permissions(serving, outside):
    async with http_session(serving.url, DEV) as session:
        result = await session.call_tool("deploy", {"service": "payments", "env": "prod"})
        assert not result.is_error, result
        started = answer(result)["run"]
        run = await run_to_end(session, started["identifier"])
        assert (run["status"], run["result"]) == ("COMPLETED", "SUCCESS"), run
        assert run["createdBy"] == "dev@acme.io", run
        node = next(n for n in run["nodeRuns"] if n["node"]["identifier"] == "announce")
        assert node["status"] == "COMPLETED" and node["result"] == "SUCCESS", node
        assert node["output"]["response"]["data"] == {"deployed": True, "id": 7}, node
        assert SECRET not in json.dumps(run), "a secret reached get_run"
    path, headers, body = outside.received.get(timeout=10)
    assert path == "/deploy", path
    assert json.loads(body) == {"service": "payments", "env": "prod"}, body
    auth = {k.lower(): v for k, v in headers.items()}["authorization"]
    assert auth == f"Bearer {SECRET}", "the webhook got its secret"
    # The guest sees neither the tool nor the run.
    async with http_session(serving.url, GUEST) as guest:
        tools = await guest.list_tools()
        assert names(tools) == ["get_run", "list_runs_waiting_for_me"], names(tools)
        refused = await guest.call_tool("deploy", {"service": "payments", "env": "prod"})
        assert refused.is_error and answer(refused)["error"] == "not_found", refused
        hidden = await guest.call_tool("get_run", {"run": run["identifier"]})
        assert hidden.is_error and answer(hidden)["error"] == "forbidden", hidden
        assert "payments" not in hidden.content[0].text
    assert outside.received.empty(), "the guest's call started a run"


async def test_http_approval_waits_for_people(serving):
    async with http_session(serving.url, DEV) as dev:
        result = await dev.call_tool("change", {"what": "rotate keys"})
        assert not result.is_error, result
        run = answer(result)["run"]
        assert run["status"] == "IN_PROGRESS", run
        review = next(n for n in run["nodeRuns"] if n["node"]["identifier"] == "review")
        assert review["status"] == "IN_PROGRESS", review
        mine = answer(await dev.call_tool("list_runs_waiting_for_me", {}))["approvals"]
        assert mine == [], mine
    async with http_session(serving.url, LEAD) as lead:
        tools = names(await lead.list_tools())
        assert tools == ["change", "deploy", "get_run", "list_runs_waiting_for_me"], tools
        waiting = answer(await lead.call_tool("list_runs_waiting_for_me", {}))["approvals"]
        assert [w["run"]["identifier"] for w in waiting] == [run["identifier"]], waiting
        assert waiting[0]["node"]["identifier"] == "review", waiting
        assert [b["identifier"] for b in waiting[0]["buttons"]] == ["approve", "reject"]
        # A responder may read the run waiting for them.
        seen = await lead.call_tool("get_run", {"run": run["identifier"]})
        assert not seen.is_error, seen


async def test_http_needs_a_token_and_a_host_naming_the_server(serving):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}}
    headers = {"accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient() as http:
        anonymous = await http.post(f"{serving.url}/mcp", json=init, headers=headers)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["error"] == "unauthorized"
        rebound = await http.post(f"{serving.url}/mcp", json=init, headers={
            **headers, "authorization": f"Bearer {DEV}", "host": "evil.example"})
        assert rebound.status_code == 421, rebound.text
        ok = await http.post(f"{serving.url}/mcp", json=init, headers={
            **headers, "authorization": f"Bearer {DEV}"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["result"]["serverInfo"]["name"] == "wflow", ok.text


async def main():
    outside = Outside()
    project = Project(outside.url)
    passed, failed = 0, 0

    async def check(name, test, *args):
        nonlocal passed, failed
        try:
            await asyncio.wait_for(test(*args), timeout=120)
            passed += 1
            print(f"ok    {name}", flush=True)
        except BaseException:
            failed += 1
            print(f"FAIL  {name}", flush=True)
            traceback.print_exc()

    try:
        await check("stdio session lists tools and runs", test_stdio_session_lists_tools_and_runs,
                    outside, project)
        await check("stdio as a user of the auth file", test_stdio_as_a_user_of_the_auth_file,
                    outside, project)
        serving = Serving(project)
        try:
            await check("http: bad input names each field", test_http_bad_input_names_each_field,
                        serving)
            await check("http: run to SUCCESS; the guest sees neither tool nor run",
                        test_http_run_to_success_and_permissions, serving, outside)
            await check("http: a run waiting for approval is listed for its responders",
                        test_http_approval_waits_for_people, serving)
            await check("http: a token and a Host naming the server are required",
                        test_http_needs_a_token_and_a_host_naming_the_server, serving)
        finally:
            serving.stop()
            if failed:
                print("".join(serving.log), file=sys.stderr)
    finally:
        outside.close()
        project.close()
    print(f"mcp: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
