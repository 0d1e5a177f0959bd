"""The OpenAI-compatible chat answerer (``answerer = "openai"``): a default plugin.

Talks to any server with the chat-completions API: vLLM, Ollama, llama.cpp's server, OpenAI,
Azure OpenAI (its ``/openai/v1`` endpoint). Answers are streamed (server-sent events). Failures
that a second try can fix (HTTP 408, 409, 429, 500, 502, 503, 504, refused or dropped connections,
timeouts) are retried with exponential backoff, honouring ``Retry-After``, until the server has
accepted the request (HTTP 200); a failure while the answer streams would repeat text if retried,
so it is raised.

It uses ``httpx`` directly rather than the ``openai`` package: the request is a single POST, the
retry policy must be ours (the package retries on its own schedule), and the package logs
request options, prompt included, at DEBUG level, which docveil's "no document text in logs"
rule forbids. Settings: ``llm_base_url``, ``llm_model``, ``llm_api_key`` (a ``Secret``; from
``DOCVEIL_LLM_API_KEY``), ``llm_api_key_header``, ``llm_timeout``, ``llm_max_retries``,
``llm_retry_backoff``, ``llm_max_tokens``, ``llm_temperature``, ``llm_vision``.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from docveil.ask.prompt import build_messages
from docveil.config import Secret, Settings
from docveil.context import StageContext, StashKey
from docveil.errors import AnswerError, ConfigError, MissingDependencyError
from docveil.hookspecs import hookimpl
from docveil.types import AnswerRequest, Generation

logger = logging.getLogger(__name__)

NAME = "openai"
PIP_INSTALL = "'docveil[ask]'"
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class ChatConfig:
    """How to reach one chat-completions server."""

    base_url: str
    model: str
    api_key: Secret | None = None
    api_key_header: str = "Authorization"
    timeout: float = 60.0
    max_retries: int = 3
    retry_backoff: float = 0.5
    max_tokens: int = 512
    temperature: float = 0.0
    vision: bool = False
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatConfig:
        if not settings.llm_base_url:
            raise ConfigError("answerer 'openai' needs llm_base_url (for example "
                              "http://127.0.0.1:8000/v1 or https://api.openai.com/v1)")
        if not settings.llm_model:
            raise ConfigError("answerer 'openai' needs llm_model, the model name the server knows")
        return cls(base_url=settings.llm_base_url, model=settings.llm_model, api_key=settings.llm_api_key,
                   api_key_header=settings.llm_api_key_header, timeout=settings.llm_timeout,
                   max_retries=settings.llm_max_retries, retry_backoff=settings.llm_retry_backoff,
                   max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature,
                   vision=settings.llm_vision)

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def server(self) -> str:
        """The server for messages and logs: no credentials, path or query."""
        parts = urlsplit(self.base_url)
        return urlunsplit((parts.scheme, parts.hostname or "", "", "", "")) + (
            f":{parts.port}" if parts.port else "")

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", **self.extra_headers}
        if self.api_key is not None:
            if self.api_key_header.lower() == "authorization":
                headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
            else:  # Azure's "api-key", or a gateway's own header
                headers[self.api_key_header] = self.api_key.reveal()
        return headers


class ChatClient:
    """A streaming chat-completions client with timeouts and retries. Thread-safe; it keeps a
    connection pool, and takes the server's ``ChatConfig`` with each call."""

    def __init__(self) -> None:
        try:
            import httpx
        except ImportError:
            raise MissingDependencyError("the OpenAI-compatible answerer", PIP_INSTALL) from None
        self._httpx = httpx
        self._client = httpx.Client(follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    @staticmethod
    def payload(config: ChatConfig, request: AnswerRequest) -> dict[str, Any]:
        """The chat-completions request body for ``request``."""
        messages = build_messages(request)
        if request.image is not None:
            if not config.vision:
                raise ConfigError("the configured model takes no images: set llm_vision = true for a "
                                  "vision-capable model, or ask without an image")
            from docveil.stages.redact.image import encode_image

            url = "data:image/png;base64," + base64.b64encode(encode_image(request.image, "png")).decode("ascii")
            messages[-1]["content"] = [{"type": "text", "text": messages[-1]["content"]},
                                       {"type": "image_url", "image_url": {"url": url}}]
        return {"model": config.model, "messages": messages, "stream": True,
                "max_tokens": config.max_tokens, "temperature": config.temperature}

    def stream(self, config: ChatConfig, payload: Mapping[str, Any]) -> Iterator[str]:
        """The answer's text, piece by piece; the request is sent on the first ``next()``."""
        response = self._open(config, payload)
        try:
            yield from _sse_content(response.iter_lines(), config.server)
        except self._httpx.TimeoutException:
            raise AnswerError(f"the model server at {config.server} stopped answering "
                              f"(no data for {config.timeout:g} s)") from None
        except self._httpx.HTTPError as exc:
            raise AnswerError(f"the connection to the model server at {config.server} failed "
                              f"mid-answer ({type(exc).__name__})") from None
        finally:
            response.close()

    def _open(self, config: ChatConfig, payload: Mapping[str, Any]) -> Any:
        httpx = self._httpx
        # The read timeout bounds each wait for the next piece, not the whole answer.
        timeout = httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0))
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                request = self._client.build_request("POST", config.endpoint, json=payload,
                                                     headers=config.headers(), timeout=timeout)
                response = self._client.send(request, stream=True)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    return response
                response.close()
                problem = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    raise AnswerError(f"the model server at {config.server} refused the request "
                                      f"({problem}); check llm_model, llm_api_key and llm_base_url")
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt >= config.max_retries:
                raise AnswerError(f"the model server at {config.server} did not answer ({problem}) "
                                  f"after {attempt + 1} attempts")
            delay = retry_after if retry_after is not None else config.retry_backoff * 2 ** attempt
            delay = min(delay, MAX_BACKOFF_SECONDS) * (1.0 + random.uniform(0.0, 0.1))
            attempt += 1
            logger.warning("model server at %s: %s; retry %d of %d in %.2f s", config.server, problem,
                           attempt, config.max_retries, delay)
            time.sleep(delay)


def _sse_content(lines: Iterator[str], server: str) -> Iterator[str]:
    """The ``delta.content`` of each server-sent chat-completion chunk, until ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event names
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            raise AnswerError(f"the model server at {server} sent a malformed event") from None
        if isinstance(chunk, dict) and chunk.get("error"):
            raise AnswerError(f"the model server at {server} failed mid-answer")
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield content


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


CLIENT: StashKey[ChatClient] = StashKey("docveil.ask.openai_compatible:client")


def get_client(context: StageContext) -> ChatClient:
    """The engine's client (its connection pool), made on first use."""
    return context.stash.get(CLIENT, ChatClient)


@hookimpl
def docveil_answer(request: AnswerRequest, context: StageContext) -> Generation | None:
    if context.settings.answerer != NAME:
        return None
    config = ChatConfig.from_settings(context.settings)
    client = get_client(context)
    return Generation(model=config.model, pieces=client.stream(config, client.payload(config, request)))
