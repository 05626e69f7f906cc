"""Secrets never reach a report, a cache key or a log: the API key option's value, and credentials
written into a URL (`https://user:password@host/v1`)."""

from __future__ import annotations

import re

SECRET_OPTIONS = ("--openai-api-key",)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def redact_url(text: str) -> str:
    """`text` with the user:password part of every URL in it replaced by `***`."""
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + "***@", text)


def scrub_argv(argv: list[str]) -> list[str]:
    """The command line with secret option values and URL credentials replaced, for results.json and the
    report."""
    out: list[str] = []
    hide_next = False
    for a in argv:
        if hide_next:
            out.append("***")
            hide_next = False
        elif a in SECRET_OPTIONS:
            out.append(a)
            hide_next = True
        elif a.startswith(tuple(o + "=" for o in SECRET_OPTIONS)):
            out.append(a.split("=", 1)[0] + "=***")
        else:
            out.append(redact_url(a))
    return out
