"""Waiting for asynchronous operations, on one shared poller per client, and their events."""

from __future__ import annotations

from aura_async.lifecycle.bus import EventBus, Subscription
from aura_async.lifecycle.connectivity import Connectivity
from aura_async.lifecycle.events import (
    Connectable,
    LifecycleEvent,
    OperationSubmitted,
    StatusChanged,
    StatusObserved,
    TargetReached,
    UnknownStatusSeen,
    VerifyFailed,
    WaitCancelled,
    WaitFailed,
    WaitTimedOut,
    to_json,
)
from aura_async.lifecycle.operations import Observation, Operation, PollPolicy, Target, Verdict
from aura_async.lifecycle.watcher import Watcher

__all__ = [
    "Connectable",
    "Connectivity",
    "EventBus",
    "LifecycleEvent",
    "Observation",
    "Operation",
    "OperationSubmitted",
    "PollPolicy",
    "StatusChanged",
    "StatusObserved",
    "Subscription",
    "Target",
    "TargetReached",
    "UnknownStatusSeen",
    "Verdict",
    "VerifyFailed",
    "WaitCancelled",
    "WaitFailed",
    "WaitTimedOut",
    "Watcher",
    "to_json",
]
