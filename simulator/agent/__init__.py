"""The Identity Agent: Credential Management emulation over PC/SC (or in-process cards).

`core.Agent` is the logic (no HTTP, no pyscard); `api` its FastAPI face; `server` runs it
with uvicorn on 127.0.0.1; `readers` supplies cards (`PcscReaders`, `MemoryReaders`).
"""

from simulator.agent.core import (
    Agent,
    AgentConfig,
    AgentEvent,
    AgentStatus,
    PinOutcome,
    PinResult,
    SignRequest,
    SignResult,
)
from simulator.agent.protocol import (
    DEFAULT_PORT,
    AgentError,
    FailureCode,
    Policy,
    RequestState,
    SignAlgorithm,
    signin_message,
)
from simulator.agent.readers import MemoryReaders, PcscReaders, ReaderSource

__all__ = [
    "DEFAULT_PORT",
    "Agent",
    "AgentConfig",
    "AgentError",
    "AgentEvent",
    "AgentStatus",
    "FailureCode",
    "MemoryReaders",
    "PcscReaders",
    "PinOutcome",
    "PinResult",
    "Policy",
    "ReaderSource",
    "RequestState",
    "SignAlgorithm",
    "SignRequest",
    "SignResult",
    "signin_message",
]
