"""URLs fit to show: never a credential or a query string (where some tools put ``apiKey``).

Subscription acks and error replies are the protocol cores' (``Output.acks`` /
``Output.sub_errors`` in :mod:`feed_process.protocols`); the runtime reads them there.
"""

from __future__ import annotations


def redact_url(url: str) -> str:
    """The URL without credentials or query (where some tools put ``apiKey``)."""
    if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        scheme, rest = url.split("//", 1)
        url = scheme + "//" + rest.split("@", 1)[1]
    return url.split("?", 1)[0]
