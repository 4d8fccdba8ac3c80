"""The API's JSON parser: DRF's, with a body nested too deep for Python answered as a 400.

Python's json module recurses once per level of nesting; a body of a few kilobytes nested
a thousand levels deep raises RecursionError, which DRF's parser does not catch (it turns
only ValueError into a 400), so every write would answer 500.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
