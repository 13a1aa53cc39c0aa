"""Queue one API prompt on a running ComfyUI and record what its websocket sends until the prompt is done.

Run with the ComfyUI venv's Python (aiohttp is one of ComfyUI's own requirements):

    <venv>/bin/python benchmarks/comfyui_ws_record.py --url http://127.0.0.1:8188 \\
        --prompt api.json --out rec.json

It opens `/ws?clientId=<id>` first, then POSTs /prompt with that client_id (ComfyUI sends a prompt's progress
only to the socket of the client that queued it: server.py send_sync(..., sid)), and records every message
with its arrival time (seconds since the POST): text messages as JSON, binary ones (latent previews) as
their type and length. It stops at `execution_success`, `execution_error` or `execution_interrupted` for
the prompt, then writes {"url", "prompt_id", "post", "events": [{"t", "type", "data"}], "history"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import aiohttp

DONE = {"execution_success", "execution_error", "execution_interrupted"}


async def record(url: str, prompt: dict, timeout: float) -> dict:
    client_id = f"wanprov-record-{uuid.uuid4()}"
    events: list[dict] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url.replace('http', 'ws', 1)}/ws?clientId={client_id}") as socket:
            start = time.monotonic()
            async with session.post(
                f"{url}/prompt", json={"prompt": prompt, "client_id": client_id}
            ) as reply:
                post = {"status": reply.status, "body": await reply.json()}
            prompt_id = post["body"].get("prompt_id")
            if reply.status != 200 or not prompt_id:
                return {"url": url, "prompt_id": None, "post": post, "events": events, "history": None}
            while True:
                message = await socket.receive(timeout=max(1.0, timeout - (time.monotonic() - start)))
                at = round(time.monotonic() - start, 3)
                if message.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(message.data)
                    events.append({"t": at, "type": data.get("type"), "data": data.get("data")})
                    if data.get("type") in DONE and (data.get("data") or {}).get("prompt_id") == prompt_id:
                        break
                elif message.type == aiohttp.WSMsgType.BINARY:
                    kind = int.from_bytes(
                        message.data[:4], "big"
                    )  # 1: PREVIEW_IMAGE (server.py BinaryEventTypes)
                    events.append(
                        {"t": at, "type": "binary", "data": {"event": kind, "bytes": len(message.data)}}
                    )
                else:
                    raise RuntimeError(f"websocket closed: {message.type}")
        # execution_success is sent before the prompt worker stores the history entry (main.py
        # prompt_worker: task_done after execute), so the entry can still be missing for a moment
        history = None
        for _ in range(100):
            async with session.get(f"{url}/history/{prompt_id}") as reply:
                history = (await reply.json()).get(prompt_id)
            if history is not None:
                break
            await asyncio.sleep(0.1)
    return {"url": url, "prompt_id": prompt_id, "post": post, "events": events, "history": history}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--prompt", type=Path, required=True, help="an API-format prompt (JSON)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=900.0)
    opts = parser.parse_args()
    result = asyncio.run(record(opts.url.rstrip("/"), json.loads(opts.prompt.read_text()), opts.timeout))
    opts.out.write_text(json.dumps(result, indent=1) + "\n")
    status = ((result.get("history") or {}).get("status") or {}).get("status_str")
    print(json.dumps({"prompt_id": result["prompt_id"], "status": status, "events": len(result["events"])}))
    return 0 if status == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
