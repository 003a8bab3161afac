"""kvws: the Python client for the kvws key-value store.

``kvws.connect`` (asyncio) and ``kvws.sync.connect`` (blocking) return
clients with the same operations: set, get, delete, list, list_all and
subscribe, which survives lost connections (see README.md).
"""

from .aio import Client, Subscription, TokenSource, connect
from .errors import KvwsError
from .events import Change, Ended, Entry, Event, KeyValue, Page, Resumed, State

__all__ = [
    "Change",
    "Client",
    "Ended",
    "Entry",
    "Event",
    "KeyValue",
    "KvwsError",
    "Page",
    "Resumed",
    "State",
    "Subscription",
    "TokenSource",
    "connect",
]

__version__ = "0.1.0"
