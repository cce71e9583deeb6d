"""A pylxd client for either engine.

pylxd speaks LXD's API, which Incus kept, except for the file API's HTTP headers: pylxd
sends `X-LXD-mode`, `X-LXD-type`, `X-LXD-uid`, ... (models/instance.py, models/image.py) and
reads `X-LXD-type`/`X-LXD-mode` from file downloads, while Incus names them `X-Incus-*`.
Incus 6.0 still honours the old request headers, but answers only with the new ones, so
pylxd's `recursive_get` of a directory silently writes nothing. On Incus the session below
renames the headers both ways; on LXD the client is pylxd's own.
"""

from __future__ import annotations

from urllib.parse import quote

import pylxd
import requests
from pylxd.client import get_session_for_url
from pylxd.models.instance import InstanceState

from harness.engines import LXD, Engine


class HeaderRenamingSession(requests.Session):
    """Sends `X-LXD-*` request headers as `X-Incus-*`, and gives every `X-Incus-*` response
    header an `X-LXD-*` twin for pylxd to read."""

    def __init__(self, theirs: str, ours: str = LXD.header_prefix):
        super().__init__()
        self._theirs, self._ours = theirs, ours

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        for name in [n for n in request.headers if n.lower().startswith(self._ours.lower())]:
            request.headers[self._theirs + name[len(self._ours):]] = request.headers.pop(name)
        response = super().send(request, **kwargs)
        for name in [n for n in response.headers if n.lower().startswith(self._theirs.lower())]:
            response.headers[self._ours + name[len(self._theirs):]] = response.headers[name]
        return response


def session_for(engine: Engine, socket: str) -> requests.Session | None:
    """The requests session pylxd should use for this engine's socket (None: pylxd's own)."""
    if engine.header_prefix == LXD.header_prefix:
        return None
    url = f"http+unix://{quote(socket, safe='')}"
    session = HeaderRenamingSession(engine.header_prefix)
    for prefix, adapter in get_session_for_url(url).adapters.items():
        session.mount(prefix, adapter)
    return session


def connect(engine: Engine, socket: str) -> pylxd.Client:
    """A client of the daemon listening on `socket`."""
    return pylxd.Client(endpoint=socket, session=session_for(engine, socket))


def instance_state(client: pylxd.Client, name: str) -> InstanceState:
    """What `client.instances.get(name).state()` gives, in one request instead of two
    (raises pylxd's NotFound when there is no such instance)."""
    return InstanceState(client.api.instances[name].state.get().json()["metadata"])
