"""The chat model the runner talks to: any OpenAI-compatible chat-completions endpoint, through the official SDK.

`model_config_for(agent)` says which endpoint and model a run uses (or None: not configured);
`chat(config, ...)` makes one bounded call: a timeout per attempt, retries on 429 / 5xx / network errors with
backoff (honouring Retry-After) while the run's deadline allows, and a `ModelUnavailable` with a reason a
person can act on when it gives up.
"""
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import openai
from django.conf import settings

logger = logging.getLogger(__name__)

# Tuning, not configuration: one model call may take this long, and is tried this many times in all.
CALL_TIMEOUT_S = 60.0
MAX_ATTEMPTS = 3
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
# A local server (Ollama, llama.cpp) usually takes no key, but the SDK insists on one.
NO_KEY = "not-needed"

NOT_CONFIGURED = (
    "No model is configured for the built-in agent. Set AGENT_LLM_BASE_URL to an OpenAI-compatible endpoint "
    "(e.g. https://api.openai.com/v1, or http://127.0.0.1:11434/v1 for a local Ollama), AGENT_LLM_MODEL (or the "
    "agent's own model on the agents page) and AGENT_LLM_API_KEY if the endpoint needs one. The tools over REST "
    "and MCP work without a model."
)


@dataclass(frozen=True)
class ModelConfig:
    base_url: str
    model: str
    api_key: str


class ModelUnavailable(Exception):
    """The model gave no usable answer; `reason` says why in words (never the key)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class ModelAnswer:
    message: Any  # openai's ChatCompletionMessage
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


def model_config_for(agent) -> ModelConfig | None:
    model = (getattr(agent, "model", "") or settings.AGENT_LLM_MODEL or "").strip()
    base_url = (settings.AGENT_LLM_BASE_URL or "").strip()
    if not base_url or not model:
        return None
    return ModelConfig(base_url=base_url.rstrip("/"), model=model, api_key=settings.AGENT_LLM_API_KEY or NO_KEY)


_clients: dict[tuple[str, str], openai.OpenAI] = {}


def _client(config: ModelConfig) -> openai.OpenAI:
    # One client (one connection pool) per endpoint and key; our own loop does the retries.
    key = (config.base_url, config.api_key)
    client = _clients.get(key)
    if client is None:
        client = openai.OpenAI(base_url=config.base_url, api_key=config.api_key, max_retries=0,
                               timeout=CALL_TIMEOUT_S)
        _clients[key] = client
    return client


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _status_reason(exc: openai.APIStatusError, config: ModelConfig) -> str:
    detail = ""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    if isinstance(error, dict) and error.get("message"):
        detail = f": {str(error['message'])[:300]}"
    return f"the model endpoint {config.base_url} answered HTTP {exc.status_code}{detail}"


def chat(config: ModelConfig, *, messages: list[dict], tools: list[dict], deadline: float) -> ModelAnswer:
    """One chat completion, retried on 429/5xx/network errors until MAX_ATTEMPTS or `deadline` (monotonic)."""
    client = _client(config)
    last_reason = ""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        started = time.perf_counter()
        try:
            completion = client.chat.completions.create(
                model=config.model, messages=messages, tools=tools or openai.omit,
                timeout=min(CALL_TIMEOUT_S, remaining))
        except openai.APITimeoutError:
            last_reason = (f"the model at {config.base_url} did not answer within "
                           f"{min(CALL_TIMEOUT_S, remaining):.2g} s")
            wait = None
        except openai.APIConnectionError as exc:
            cause = type(exc.__cause__ or exc).__name__
            last_reason = f"the model endpoint {config.base_url} could not be reached ({cause})"
            wait = None
        except openai.APIStatusError as exc:
            last_reason = _status_reason(exc, config)
            if exc.status_code != 429 and exc.status_code < 500:
                raise ModelUnavailable(last_reason)  # a 4xx other than 429 will not succeed later
            wait = _retry_after(exc)
        else:
            if not completion.choices:
                raise ModelUnavailable(f"the model at {config.base_url} answered without a choice")
            usage = completion.usage
            return ModelAnswer(message=completion.choices[0].message,
                               prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                               completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                               latency_ms=(time.perf_counter() - started) * 1000)
        logger.warning("agents.runner.model-retry", extra={"attempt": attempt, "reason": last_reason})
        if attempt < MAX_ATTEMPTS:
            backoff = wait if wait is not None else min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
            backoff = min(backoff * (0.8 + 0.4 * random.random()), max(0.0, deadline - time.monotonic()))
            time.sleep(backoff)
    attempts = f" (tried {attempt} time{'s' if attempt > 1 else ''})"
    raise ModelUnavailable((last_reason or "the run's time ran out before the model answered") + attempts)
