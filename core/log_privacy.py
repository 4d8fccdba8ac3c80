"""Links that are keys never reach a log whole.

A guest page link (/g/<token>/) opens a stay's door codes and an invitation link
(/invitations/<token>/) lets its holder join an organization: whoever reads a log line
with one could use it. Every log line of the web processes (Django's handler, runserver's
request lines, gunicorn's access and error logs) passes through HideLinkTokens, which
replaces such a token with a marker and keeps the rest of the path.

This module imports nothing of Django: gunicorn's master loads it before any app.
"""

from __future__ import annotations

import logging
import re

MARKER = "[hidden]"

# The paths of config/urls.py whose last part is a key (tests/core/test_log_privacy.py
# checks these against the real links). A token runs to the next slash, query or space,
# percent-encoded or not.
_KEYED_PATH = re.compile(r"(/(?:g|invitations)/)(?!\[hidden\])[^/?#\s\"']+")


def hide_link_tokens(text: str) -> str:
    """`text` with the token of every guest page or invitation link replaced by MARKER."""
    if "/g/" not in text and "/invitations/" not in text:
        return text  # the common case, without a regular expression
    return _KEYED_PATH.sub(rf"\g<1>{MARKER}", text)


class HideLinkTokens(logging.Filter):
    """A logging filter that rewrites a record's message (and its traceback) without the
    tokens of keyed links; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: left for the handler to report
            return True
        hidden = hide_link_tokens(message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = hide_link_tokens(
                logging.Formatter().formatException(record.exc_info)
            )
        return True
