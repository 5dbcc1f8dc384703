#!/usr/bin/env python3
"""commsd's MCP server driven by the official Python SDK (PyPI `mcp`).

One run = one transport and one protocol era:

    python_client.py --transport stdio --mode auto     # comms-mcp, 2026-07-28
    python_client.py --transport stdio --mode legacy   # comms-mcp, 2025 initialize handshake
    python_client.py --transport http  --mode auto     # /mcp on the daemon's API listener
    python_client.py --transport http  --mode legacy

It expects a running daemon (tests/mcp/run.sh starts one): COMMSD_SOCKET,
COMMSD_DATA_DIR and COMMSD_CONFIG point at it, COMMSCTL_BIN and (stdio)
COMMS_MCP_BIN are the binaries, MCP_URL and MCP_TOKEN (http) the endpoint and
an API key with the grants read,draft,stage,send. The daemon's config enables
every toolset, so tools/list is the one in the golden file.

Every check prints `ok - NAME` or `not ok - NAME: why`; the last line is
`N passed, N failed` and the exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import jsonschema
import mcp.types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

GOLDEN_DEFAULT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shim-mcp", "tests", "golden", "tools_list.json"
)
PENDING = "commsd://outbox/pending"


def email(subject: str) -> dict[str, Any]:
    return {
        "to": ["Jane Roe <jane@example.org>"],
        "subject": subject,
        "bodyText": "Dear Jane,\nsee you on Tuesday at 9:00.\nBest",
    }


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.passed = 0
        self.failed = 0
        # One client name per combination: the approval is recorded with it.
        self.client_name = f"py-{args.transport}-{args.mode}"
        self.label = f"{args.transport}/{args.mode}"

    # --- connections ---------------------------------------------------------

    def client(self, **kwargs: Any) -> Client:
        a = self.args
        if a.transport == "stdio":
            env = dict(os.environ)
            env["COMMSD_AUTOSTART"] = "0"  # never a second daemon
            target: Any = StdioServerParameters(command=a.shim, args=[], env=env)
        else:
            # The SDK takes headers through its own httpx2 client.
            http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {a.token}"},
                timeout=httpx2.Timeout(30.0, read=120.0),
            )
            target = streamable_http_client(a.url, http_client=http)
        return Client(
            target,
            mode=a.mode,
            client_info=types.Implementation(name=self.client_name, version="1.0"),
            read_timeout_seconds=60,
            **kwargs,
        )

    # --- helpers --------------------------------------------------------------

    def outbox_show(self, item_id: str) -> dict[str, Any]:
        out = subprocess.run(
            [self.args.commsctl, "outbox", "show", item_id, "--json"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "COMMSD_AUTOSTART": "0"},
        )
        return json.loads(out.stdout)

    async def wait_state(self, item_id: str, states: set[str], timeout: float = 10.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            item = self.outbox_show(item_id)
            if item["state"] in states or asyncio.get_running_loop().time() > deadline:
                return item
            await asyncio.sleep(0.1)

    async def check(self, name: str, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(fn(), timeout=90)
        except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
            self.failed += 1
            print(f"not ok - {self.label} {name}: {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stdout)
        else:
            self.passed += 1
            print(f"ok - {self.label} {name}")
        sys.stdout.flush()

    # --- the checks -----------------------------------------------------------

    async def handshake(self) -> None:
        async with self.client() as c:
            want = "2026-07-28" if self.args.mode == "auto" else None
            if want:
                assert c.protocol_version == want, f"negotiated {c.protocol_version}, want {want}"
            else:
                assert c.protocol_version < "2026", f"legacy mode negotiated {c.protocol_version}"
            if c.server_info is not None or self.args.mode == "legacy":
                assert c.server_info is not None and c.server_info.name == "commsd", c.server_info

    async def tools_list_matches_golden(self) -> None:
        with open(self.args.golden) as f:
            golden = json.load(f)
        async with self.client() as c:
            listed = await c.list_tools()
            # The SDK parses each tool into its pydantic model. Dumped by alias
            # without None fields, that is the wire form: the SDK normalises
            # nothing in these tools (no defaults are added, schemas are kept as
            # plain dicts). Compared as data, so key order does not matter.
            tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
            assert listed.next_cursor is None, "one page"
            names = [t["name"] for t in tools]
            assert names == [t["name"] for t in golden], f"names {names}"
            for got, want in zip(tools, golden):
                assert got == want, (
                    f"{want['name']} differs from the golden file:\n"
                    f"got  {json.dumps(got, sort_keys=True)}\nwant {json.dumps(want, sort_keys=True)}"
                )

    async def stage_matches_output_schema(self) -> None:
        async with self.client() as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            schema = tools["email_stage"].output_schema
            assert schema, "email_stage has an outputSchema"
            jsonschema.Draft202012Validator.check_schema(schema)
            # No elicitation declared: the item stays pending and the result says so.
            r = await c.call_tool("email_stage", email(f"Schema {self.label}"))
            assert not r.is_error, r
            assert r.structured_content is not None, "structuredContent"
            jsonschema.Draft202012Validator(schema).validate(r.structured_content)
            item = r.structured_content["item"]
            assert item["state"] == "pending_approval", item
            texts = [b.text for b in r.content if isinstance(b, types.TextContent)]
            assert len(texts) == 1, f"one text block (Claude Code shows the model only the first): {texts}"
            assert json.loads(texts[0]) == r.structured_content, "the text block is the structured content"
            next_ = r.structured_content["next"]
            if self.args.transport == "http":
                # The key lacks admin: its client is never asked (see elicitation).
                assert "not asked" in next_ and "lacks the `admin` grant" in next_, next_
            else:
                assert "cannot ask the human" in next_, next_
            assert "/review/" in next_, next_
            shown = self.outbox_show(item["id"])
            assert shown["state"] == "pending_approval", shown
            want_requester = f"mcp:{self.client_name}" if self.args.transport == "stdio" else "key:mcp-tests"
            assert shown["requester"] == want_requester, shown["requester"]
            # Another tool's structured result against its schema too.
            r = await c.call_tool("outbox_list", {"limit": 5})
            assert not r.is_error, r
            jsonschema.Draft202012Validator(tools["outbox_list"].output_schema).validate(r.structured_content)

    async def bad_arguments_give_is_error(self) -> None:
        async with self.client() as c:
            await c.list_tools()
            r = await c.call_tool("email_stage", {"to": ["not an address"], "subject": "x", "bodyText": "y"})
            assert r.is_error, r
            env = r.structured_content
            assert env is not None and env.get("code") == "invalid_argument", env
            r = await c.call_tool("email_stage", {"subject": "no recipients"})
            assert r.is_error, r
            assert (r.structured_content or {}).get("code") == "invalid_argument", r.structured_content

    async def unknown_tool_is_a_jsonrpc_error(self) -> None:
        async with self.client() as c:
            await c.list_tools()
            try:
                r = await c.call_tool("no_such_tool", {})
            except MCPError as e:
                assert e.code in (types.INVALID_PARAMS, types.METHOD_NOT_FOUND), e.error
                assert "no_such_tool" in e.message, e.message
            else:
                raise AssertionError(f"an unknown tool gave a result, not a JSON-RPC error: {r}")

    async def elicitation(self, accept: bool) -> None:
        asked: list[types.ElicitRequestParams] = []

        async def on_elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            asked.append(params)
            if accept:
                return types.ElicitResult(action="accept", content={"approve": True})
            return types.ElicitResult(action="decline")

        async with self.client(elicitation_callback=on_elicit) as c:
            await c.list_tools()
            r = await c.call_tool("email_stage", email(f"Elicit {'accept' if accept else 'decline'} {self.label}"))
            assert not r.is_error, r
            if self.args.transport == "http":
                # Over /mcp the client is the key holder, not a human, and the
                # key (read,draft,stage,send) cannot approve: commsd never asks,
                # whatever the client declared, and the item waits for a human
                # in the dashboard; the one text block says so. (A key holding
                # admin would be asked: shim-mcp/tests/it/http.rs.)
                assert not asked, "the server asked a key without admin over HTTP"
                item = self.outbox_show(r.structured_content["item"]["id"])
                assert item["state"] == "pending_approval" and item["approval"] is None, item
                next_ = r.structured_content["next"]
                assert "lacks the `admin` grant" in next_ and "/review/" in next_, next_
                return
            assert len(asked) == 1, f"asked {len(asked)} times"
            message = getattr(asked[0], "message", "")
            assert "jane@example.org" in message and "Elicit" in message, message
            item_id = r.structured_content["item"]["id"]
            if accept:
                item = await self.wait_state(item_id, {"sent"})
                assert item["state"] in ("approved", "sent"), item
                want_by = f"human via elicitation in mcp:{self.client_name} (uid {os.getuid()})"
                assert item["approval"]["by"] == want_by, item["approval"]
                assert r.structured_content["item"]["state"] in ("approved", "sending", "sent"), r.structured_content
            else:
                item = self.outbox_show(item_id)
                assert item["state"] == "pending_approval", item
                assert item["approval"] is None, item["approval"]
                assert "declined" in r.structured_content["next"], r.structured_content

    async def pending_resource_updated(self) -> None:
        """resources/updated for commsd://outbox/pending after a stage.

        list_changed (tools) follows the daemon's AccountsChanged event, which
        the daemon publishes only at start today (accounts cannot be added
        while it runs), so it cannot be triggered from a client yet; the
        resource update after staging exercises the same notification path.
        Legacy mode over HTTP is stateless (no session, no GET stream): the
        server has no channel for notifications outside a request, so that
        combination has nothing to test and is skipped by the caller.
        """
        if self.args.mode == "auto":
            async with self.client() as c:
                async with c.listen(resource_subscriptions=[PENDING]) as sub:
                    assert PENDING in (sub.honored.resource_subscriptions or []), sub.honored
                    async with self.client() as stager:
                        r = await stager.call_tool("email_stage", email(f"Notify {self.label}"))
                        assert not r.is_error, r

                    async def first_update() -> Any:
                        async for event in sub:
                            return event
                        return None

                    event = await asyncio.wait_for(first_update(), timeout=15)
                    assert event is not None, "the subscription ended"
                    assert PENDING in repr(event), event
            return
        got = asyncio.Event()
        seen: list[str] = []

        async def on_message(message: Any) -> None:
            root = getattr(message, "root", message)
            if isinstance(root, types.ResourceUpdatedNotification):
                seen.append(str(root.params.uri))
                if str(root.params.uri) == PENDING:
                    got.set()

        async with self.client(message_handler=on_message) as c:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await c.subscribe_resource(PENDING)
            r = await c.call_tool("email_stage", email(f"Notify {self.label}"))
            assert not r.is_error, r
            await asyncio.wait_for(got.wait(), timeout=15)
            assert PENDING in seen, seen

    async def main(self) -> int:
        await self.check("handshake", self.handshake)
        await self.check("tools/list matches the golden file", self.tools_list_matches_golden)
        await self.check("email_stage structuredContent validates against outputSchema", self.stage_matches_output_schema)
        await self.check("bad arguments give isError", self.bad_arguments_give_is_error)
        await self.check("unknown tool is a JSON-RPC error", self.unknown_tool_is_a_jsonrpc_error)
        await self.check("elicitation accept approves and sends", lambda: self.elicitation(True))
        await self.check("elicitation decline leaves it pending", lambda: self.elicitation(False))
        if self.args.transport == "http" and self.args.mode == "legacy":
            print(f"ok - {self.label} resources/updated # SKIP stateless legacy HTTP has no notification channel")
        else:
            await self.check("resources/updated for commsd://outbox/pending after staging", self.pending_resource_updated)
        print(f"{self.label}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=["stdio", "http"], required=True)
    p.add_argument("--mode", choices=["auto", "legacy"], required=True)
    p.add_argument("--golden", default=os.environ.get("GOLDEN", GOLDEN_DEFAULT))
    p.add_argument("--shim", default=os.environ.get("COMMS_MCP_BIN"))
    p.add_argument("--commsctl", default=os.environ.get("COMMSCTL_BIN"))
    p.add_argument("--url", default=os.environ.get("MCP_URL"))
    args = p.parse_args()
    args.token = os.environ.get("MCP_TOKEN")
    if not args.commsctl:
        p.error("set COMMSCTL_BIN (or --commsctl)")
    if args.transport == "stdio" and not args.shim:
        p.error("stdio needs COMMS_MCP_BIN (or --shim)")
    if args.transport == "http" and not (args.url and args.token):
        p.error("http needs MCP_URL (or --url) and MCP_TOKEN")
    return asyncio.run(Run(args).main())


if __name__ == "__main__":
    sys.exit(main())
