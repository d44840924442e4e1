"""JSONPath as Step Functions evaluates it (Jayway), where moto 5.2.5's jsonpath-ng differs.

- a regular-expression filter is written `[?(@ =~ /pattern/)]` (jsonpath-ng wants a quoted
  string); the whole value must match, as Java's `Matcher.matches()` requires (but for one final
  newline, which Python's `$` lets through: check characters separately where it matters);
- a filter that selects nothing gives `[]` (an indefinite path), not a "path not found" error;
- `$.list[*]['a','b']` projects each element onto those fields (a list of objects), where
  jsonpath-ng would flatten the values into one list;
- a definite path (single names and single indexes only, e.g. `$.a[0].b`) gives the value
  itself: moto wraps a value reached through an index in a list. Jayway's rule ("What is
  Returned When?", https://github.com/json-path/JsonPath#what-is-returned-when), which Step
  Functions follows (https://docs.aws.amazon.com/step-functions/latest/dg/
  amazon-states-language-paths.html: paths are JsonPath, evaluated by Jayway).

moto parses every path again on each evaluation, and jsonpath-ng's `parse` builds a new
parser (reading its LR tables) each time: about a fifth of an execution's time in a
paging loop. Parsed paths are immutable, so `parse` is cached (ResultPath's too: it calls
jsonpath-ng's plain `parse`, which builds its lexer again on every state).
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.parse import asl_parser  # noqa: F401  (imports every user)
from moto.stepfunctions.parser.asl.utils import json_path

from localaws.core.patching import Patches

patches = Patches("stepfunctions.json_paths")
_original = json_path.extract_json
patches.set(json_path, "parse", functools.lru_cache(maxsize=4096)(json_path.parse))
patches.set(result_path, "parse", functools.lru_cache(maxsize=1024)(result_path.parse))
_REGEX = re.compile(r"=~\s*/((?:\\.|[^\\/])*)/([a-z]*)")
_DEFINITE = re.compile(r"^\$(?:\.[^.\[\]*?@,:()'\"]+|\[(?:-?\d+|'[^',]*'|\"[^\",]*\")\])*$")
_PROJECTION = re.compile(r"^(?P<list>.+\[\*\])\.?\[(?P<fields>'[^']+'(?:\s*,\s*'[^']+')+)\]$")


def _quoted_regex(match: re.Match) -> str:
    pattern, flags = match[1], match[2]
    prefix = "(?i)" if "i" in flags else ""
    # Anchored at both ends: Jayway matches the whole string. (jsonpath-ng's lexer mangles
    # backslashes, so `$`, which Python also lets match before one final newline.)
    body = f"{prefix}^(?:{pattern})$".replace('"', "'")
    return f'=~ "{body}"'


def extract_json(path: str, data: Any) -> Any:
    """moto's extract_json, with Jayway's regex literals, empty filters, projections and
    definite paths."""
    projection = _PROJECTION.match(path)
    if projection:
        fields = re.findall(r"'([^']+)'", projection["fields"])
        items = extract_json(projection["list"], data)
        return [{f: item[f] for f in fields if f in item} for item in items]
    if "=~" in path:
        path = _REGEX.sub(_quoted_regex, path)
    if _DEFINITE.match(path):
        matches = json_path.parse(path).find(data)
        if len(matches) == 1:
            return matches[0].value
    try:
        return _original(path, data)
    except json_path.NoSuchJsonPathError:
        if "[?(" in path:
            return []
        raise


# moto's modules imported `extract_json` by name: replace every copy.
for _name, _module in list(sys.modules.items()):
    if _name.startswith("moto.stepfunctions") and (
        getattr(_module, "extract_json", None) is _original
    ):
        patches.set(_module, "extract_json", extract_json)
