"""An OpenAI `/v1/embeddings` endpoint on loopback that answers with the gateway's own local model, for peers
that embed through an API. The fake upstream's embeddings are hashes of the text: fine for repeats, but no
paraphrase is near anything, so a peer could never make a semantic hit. With the same model as ours on the
same CPU, both caches judge paraphrases alike and pay alike for embedding a text they have not seen.

Like the gateway's cache of recent prompt vectors, a text embedded before is answered from memory, so repeats
cost a peer only the HTTP hop. The CPU spent embedding is counted, to be charged to the peer's CPU per request."""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from gateway.embedding.local import LocalEmbedder

_REMEMBERED = 100_000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = orjson.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        data = []
        for index, text in enumerate(texts):
            vector = self.server.vector(text)
            embedding: Any = vector.tolist()
            if request.get("encoding_format") == "base64":
                embedding = base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        payload = orjson.dumps({"object": "list", "data": data, "model": request.get("model", ""),
                                "usage": {"prompt_tokens": 0, "total_tokens": 0}})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.embedder = LocalEmbedder()
        self.lock = threading.Lock()
        self.remembered: dict[str, Any] = {}
        self.cpu_seconds = 0.0

    def vector(self, text: str) -> Any:
        with self.lock:
            vector = self.remembered.get(text)
            if vector is None:
                started = time.thread_time()
                vector = self.embedder.embed_batch([text])[0]
                self.cpu_seconds += time.thread_time() - started
                if len(self.remembered) < _REMEMBERED:
                    self.remembered[text] = vector
            return vector


class EmbeddingServer:
    def __enter__(self) -> EmbeddingServer:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-embeddings", daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def cpu_seconds(self) -> float:
        return self._server.cpu_seconds

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
