"""The built-in agent runner's model and speech-to-text endpoints (OpenAI-compatible).

Empty means "not configured": runs (and voice runs) are refused with a message saying what to set; the
tools over REST and MCP need neither.
"""
import environ

_env = environ.Env()

# Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure, a local Ollama / vLLM / llama.cpp server.
AGENT_LLM_BASE_URL = _env.str("AGENT_LLM_BASE_URL", default="")
AGENT_LLM_MODEL = _env.str("AGENT_LLM_MODEL", default="")
AGENT_LLM_API_KEY = _env.str("AGENT_LLM_API_KEY", default="")
# An OpenAI-compatible /audio/transcriptions endpoint: OpenAI, a local whisper.cpp / faster-whisper server.
AGENT_STT_BASE_URL = _env.str("AGENT_STT_BASE_URL", default="")
AGENT_STT_MODEL = _env.str("AGENT_STT_MODEL", default="")
AGENT_STT_API_KEY = _env.str("AGENT_STT_API_KEY", default="")
