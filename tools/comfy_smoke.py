"""Drive every restorekit node through a running ComfyUI server (a manual check, never run in CI).

Usage: python tools/comfy_smoke.py [--server http://127.0.0.1:8188] [--image input.png] [--batch 2]

For each RK_ node it queues LoadImage -> (RepeatImageBatch) -> node -> SaveImage / PreviewAny with
default parameters, waits for the result, and prints one line per node: ok, or the error ComfyUI
reported. PSF inputs come from RK_MakePsf, MASK inputs from LoadImage's mask, models from
RK_LoadRestorationModel with the first file in models/restorekit (put one there first).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
import uuid


def call(server: str, path: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(server + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def workflow(node_id: str, info: dict, image: str, batch: int) -> dict:
    graph: dict = {
        "load": {"class_type": "LoadImage", "inputs": {"image": image}},
        "batch": {"class_type": "RepeatImageBatch", "inputs": {"image": ["load", 0], "amount": batch}},
    }
    inputs = {}
    for name, spec in info["input"].get("required", {}).items():
        kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
        if kind == "IMAGE":
            inputs[name] = ["batch", 0]
        elif kind == "MASK":
            inputs[name] = ["load", 1]
        elif kind == "RK_PSF":
            graph["psf"] = {"class_type": "RK_MakePsf", "inputs": {}}
            inputs[name] = ["psf", 0]
        elif kind == "RK_RESTORATION_MODEL":
            load_info = call_cache["RK_LoadRestorationModel"]["input"]["required"]["model_name"]
            graph["model"] = {"class_type": "RK_LoadRestorationModel",
                              "inputs": {"model_name": load_info[1]["options"][0]}}
            inputs[name] = ["model", 0]
        elif isinstance(kind, list) or kind == "COMBO":
            inputs[name] = options.get("default", (kind if isinstance(kind, list) else options["options"])[0])
        else:
            inputs[name] = options.get("default")
    if "psf" in graph:
        psf_info = call_cache["RK_MakePsf"]
        graph["psf"]["inputs"] = {
            n: s[1].get("default", (s[0] if isinstance(s[0], list) else s[1].get("options", [None]))[0])
            for n, s in psf_info["input"]["required"].items()
        }
    graph["node"] = {"class_type": node_id, "inputs": inputs}
    for index, kind in enumerate(info["output"]):
        if kind == "IMAGE":
            graph[f"save{index}"] = {"class_type": "SaveImage",
                                     "inputs": {"images": ["node", index], "filename_prefix": f"rk_{node_id}"}}
        elif kind in ("FLOAT", "STRING", "INT"):
            graph[f"show{index}"] = {"class_type": "PreviewAny", "inputs": {"source": ["node", index]}}
    return graph


call_cache: dict = {}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="http://127.0.0.1:8188")
    parser.add_argument("--image", default="rk_smoke.png", help="a file in ComfyUI's input folder")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated node ids")
    args = parser.parse_args()
    info = call(args.server, "/object_info")
    call_cache.update(info)
    ids = sorted(n for n in info if n.startswith("RK_"))
    if args.only:
        ids = [n for n in ids if n in args.only.split(",")]
    failures = 0
    for node_id in ids:
        graph = workflow(node_id, info[node_id], args.image, args.batch)
        start = time.time()
        try:
            prompt_id = call(args.server, "/prompt", {"prompt": graph, "client_id": str(uuid.uuid4())})["prompt_id"]
        except urllib.error.HTTPError as err:
            print(f"{node_id}: REJECTED {err.read().decode()[:400]}")
            failures += 1
            continue
        while True:
            history = call(args.server, f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                break
            if time.time() - start > 600:
                break
            time.sleep(0.3)
        status = history.get(prompt_id, {}).get("status", {})
        ok = status.get("status_str") == "success"
        failures += not ok
        detail = ""
        if not ok:
            errors = [m for m in status.get("messages", []) if m[0] == "execution_error"]
            detail = errors[0][1].get("exception_message", "")[:300] if errors else str(status)[:300]
        outputs = history.get(prompt_id, {}).get("outputs", {})
        saved = sum(len(v.get("images", [])) for v in outputs.values())
        print(f"{node_id}: {'ok' if ok else 'FAILED'} in {time.time() - start:.1f} s, {saved} images saved {detail}")
    print(f"{len(ids) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
