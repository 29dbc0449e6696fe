"""Which of the gateway's modules one chat request runs through, a miss and then its hit, and how it moves between
them: what a reader following the request would have to open. Run from a checkout:

    .venv/bin/python scripts/module_walk.py

A served gateway (memory store, local embedder) in front of the tests' fake upstream; every Python function the
request calls is recorded by the module it lives in (a resumed coroutine is not a new call). Printed per request:
every module run; the story, without the middleware every request passes (trace, access, framing, logs, metrics)
and without the leaves (wire formats, settings, errors) whose functions' names say what they return; and in that
story, how often the request comes back to a module it already left and climbs back up a layer."""

from __future__ import annotations

import itertools
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


import gateway
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway_server import ServedGateway, settings_for

PACKAGE = str(Path(gateway.__file__).parent)
AROUND = ("web.trace", "web.access_log", "web.framing", "web.browsers", "web.access", "tracing", "metrics", "logs")
LAYERS = (("web",), ("cache", "flight"), ("store", "embedding", "upstream", "upstreams", "metrics", "tracing"))


def layer(module: str) -> int:
    """0 web, 1 cache policy, 2 adapters, 3 leaves."""
    return next((rank for rank, tops in enumerate(LAYERS) if module.split(".")[0] in tops), len(LAYERS))


class Recorder:
    def __init__(self) -> None:
        self.modules: list[str] | None = None
        self._seen: dict[int, FrameType] = {}  # held, so that an id is not reused by another frame meanwhile

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if self.modules is None or event != "call" or id(frame) in self._seen:
            return
        self._seen[id(frame)] = frame
        path = frame.f_code.co_filename
        if path.startswith(PACKAGE + "/"):
            module = path[len(PACKAGE) + 1:-3].replace("/", ".").removesuffix(".__init__")
            if not self.modules or self.modules[-1] != module:
                self.modules.append(module)

    def start(self) -> None:
        self.modules, self._seen = [], {}

    def stop(self) -> list[str]:
        modules, self.modules, self._seen = self.modules or [], None, {}
        return modules


def report(label: str, walk: list[str]) -> None:
    story = [module for module in walk if layer(module) < len(LAYERS) and not module.startswith(AROUND)]
    story = [module for index, module in enumerate(story) if index == 0 or story[index - 1] != module]
    left: set[str] = set()
    returns = climbs = 0
    for here, there in itertools.pairwise(story):
        left.add(here)
        returns += there in left
        climbs += layer(there) < layer(here)
    print(f"{label}: {len(set(walk))} modules run; the story: {len(set(story))} modules, {len(story) - 1} moves, "
          f"{returns} back to a module left, {climbs} up a layer")
    print("  ", " > ".join(story))


def main() -> None:
    recorder = Recorder()
    threading.setprofile(recorder)  # the served gateway's thread starts after this
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How do I reset my password?"}]}
    with FakeUpstream() as upstream:
        served = ServedGateway(settings_for({"UPSTREAM_BASE_URL": upstream.base_url, "MISS_DELAY_MS": "0"})).start()
        try:
            for label in ("miss", "hit"):
                recorder.start()
                answer = httpx.post(f"{served.base_url}/chat/completions", json=body,
                                    headers={"authorization": "Bearer sk-walk"})
                served.drain()
                walk = recorder.stop()
                assert answer.headers["x-cache"] == label, answer.headers
                report(label, walk)
        finally:
            served.stop()


if __name__ == "__main__":
    main()
