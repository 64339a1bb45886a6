"""Drives mdz's MCP server with the official `mcp` Python SDK (streamable HTTP).

Usage: client.py <mcp-url> <editor-token> <viewer-token> <project-id>
Prints one JSON object with what each step saw; the Rust test asserts on it.
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def outcome(result):
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    try:
        data = json.loads(text)
    except ValueError:
        data = text
    return {"is_error": bool(result.is_error), "data": data}


async def session_for(url, token, steps):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                return await steps(session, init)


async def main():
    url, editor, viewer, project = sys.argv[1:5]
    report = {}

    async def as_editor(session, init):
        report["protocol"] = init.protocol_version
        report["server"] = init.server_info.name
        tools = await session.list_tools()
        report["tools"] = sorted(t.name for t in tools.tools)
        report["projects"] = outcome(await session.call_tool("list_projects", {}))
        created = outcome(await session.call_tool(
            "create_file", {"project_id": project, "path": "mcp/hello.md", "content": "# Hello\nfrom the zebra assistant\n"}))
        report["create"] = created
        file_id = created["data"]["id"]
        report["list"] = outcome(await session.call_tool("list_files", {"project_id": project, "prefix": "mcp/"}))
        read = outcome(await session.call_tool("read_file", {"file_id": file_id}))
        report["read"] = read
        report["search"] = outcome(await session.call_tool("search", {"query": "zebra", "project_id": project}))
        rev = read["data"]["revision"]
        report["update"] = outcome(await session.call_tool(
            "update_file", {"file_id": file_id, "content": "# Hello\nupdated\n", "revision": rev}))
        report["stale_update"] = outcome(await session.call_tool(
            "update_file", {"file_id": file_id, "content": "# Lost\n", "revision": rev}))
        updated = report["update"]["data"]["revision"]
        # "# Hello\n" is characters 0..8; "updated" is 8..15.
        report["propose"] = outcome(await session.call_tool("propose_edit", {
            "file_id": file_id, "revision": updated, "from": 8, "to": 15, "quote": "updated",
            "proposed": "revised", "explanation": "A better word."}))
        report["bad_propose"] = outcome(await session.call_tool("propose_edit", {
            "file_id": file_id, "revision": updated, "from": 9, "to": 2, "proposed": "x",
            "explanation": "backwards"}))
        report["suggestions"] = outcome(await session.call_tool(
            "list_suggestions", {"file_id": file_id, "status": "open"}))
        report["bad_args"] = outcome(await session.call_tool("read_file", {"file_id": "not-a-uuid"}))
        report["file_id"] = file_id

    async def as_viewer(session, init):
        report["viewer_read"] = outcome(await session.call_tool("read_file", {"file_id": report["file_id"]}))
        report["viewer_create"] = outcome(await session.call_tool(
            "create_file", {"project_id": project, "path": "mcp/viewer.md", "content": "nope"}))
        report["viewer_update"] = outcome(await session.call_tool(
            "update_file", {"file_id": report["file_id"], "content": "nope"}))
        report["viewer_suggestions"] = outcome(await session.call_tool(
            "list_suggestions", {"file_id": report["file_id"]}))
        report["viewer_propose"] = outcome(await session.call_tool("propose_edit", {
            "file_id": report["file_id"], "revision": 1, "from": 0, "to": 1, "proposed": "x",
            "explanation": "nope"}))

    await session_for(url, editor, as_editor)
    await session_for(url, viewer, as_viewer)
    print(json.dumps(report))


asyncio.run(main())
