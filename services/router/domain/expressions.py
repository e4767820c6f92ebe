"""What a zen expression reads: the names in a rules file's cells, fields and conditions.

Rules kept here:
- a name is a variable path (`age`, `behaviours.violence`, `$root`); keywords, `$` alone, function
  names (a name followed by `(`) and the contents of string literals are not names;
- this is a reading of the text, not a parse: the load-time checks (`rules_check`) compile every
  expression with zen as well, so a name found here is only ever looked up, never trusted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')  # a string literal
_NAME: Final = re.compile(r"(?<![\w$.#])[$A-Za-z_][$\w]*(?:\.[A-Za-z_]\w*)*")
_KEYWORDS: Final = frozenset({"true", "false", "null", "and", "or", "not", "in", "$"})


def names_in(expression: str) -> Iterator[str]:
    """Variable paths a zen expression reads: not keywords, `$`, function names or string contents."""
    code = STRING.sub('""', expression)
    for match in _NAME.finditer(code):
        if not code[match.end() :].lstrip().startswith("(") and match.group() not in _KEYWORDS:
            yield match.group()
