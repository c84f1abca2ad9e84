"""A small real library, written to a temporary folder under a fresh module name, for the toolkit tests.

Each test gets its own copy, so post-import hooks and patches of one test never see another's module.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path

SOURCE = textwrap.dedent(
    '''
    """A tiny LLM-client-like library: plain and async calls, methods of every kind, and streams."""

    import asyncio


    class UserError(Exception):
        pass


    def add(a, b=0):
        """Add two numbers."""
        if a == "boom":
            raise UserError("the user's own error")
        return a + b


    async def aadd(a, b=0):
        await asyncio.sleep(0)
        if a == "boom":
            raise UserError("the user's own async error")
        return a + b


    class Stream:
        """Like an SDK's stream: an iterator and a context manager with close()."""

        def __init__(self, items, fail_at=None):
            self._items = list(items)
            self._i = 0
            self.fail_at = fail_at
            self.closed = False
            self.response = "raw-response"

        def __iter__(self):
            return self

        def __next__(self):
            if self.closed or self._i >= len(self._items):
                raise StopIteration
            if self.fail_at is not None and self._i == self.fail_at:
                raise UserError("stream broke")
            item = self._items[self._i]
            self._i += 1
            return item

        def close(self):
            self.closed = True

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()
            return False


    class StreamManager:
        """Entering yields a different object: the stream proper."""

        def __init__(self, items):
            self.stream = Stream(items)

        def __enter__(self):
            return self.stream

        def __exit__(self, *exc):
            self.stream.close()
            return False


    class AsyncStream:
        def __init__(self, items, fail_at=None):
            self._items = list(items)
            self._i = 0
            self.fail_at = fail_at
            self.closed = False

        def __aiter__(self):
            return self

        async def __anext__(self):
            await asyncio.sleep(0)
            if self.closed or self._i >= len(self._items):
                raise StopAsyncIteration
            if self.fail_at is not None and self._i == self.fail_at:
                raise UserError("async stream broke")
            item = self._items[self._i]
            self._i += 1
            return item

        async def close(self):
            self.closed = True

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            await self.close()
            return False


    class Client:
        greeting = "hi"

        def complete(self, prompt, stream=False):
            if prompt == "boom":
                raise UserError("bad prompt")
            if stream:
                return Stream(prompt.split())
            return {"text": prompt.upper()}

        async def acomplete(self, prompt, stream=False):
            await asyncio.sleep(0)
            if prompt == "boom":
                raise UserError("bad prompt")
            if stream:
                return AsyncStream(prompt.split())
            return {"text": prompt.upper()}

        @classmethod
        def create(cls, name):
            return (cls, name)

        @staticmethod
        def version():
            return "1.0"


    class SubClient(Client):
        pass
    '''
)

_counter = itertools.count()


def make_library(tmp_path: Path, stem: str = "samplelib") -> str:
    """Write the library under a module name unique to this process and put it on sys.path."""
    name = f"{stem}_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(SOURCE)
    if str(tmp_path) not in sys.path:
        sys.path.insert(0, str(tmp_path))
    return name
