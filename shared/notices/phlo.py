"""Voice notices through a PHLO: what a send keeps for its runs, and what a run carries.

Pure. A notice naming `phlo_id` reaches each voice recipient by running that
PHLO (Plivo's visual call flow) instead of a call placed and answered here
(shared.plivo.channels has the request). A run is Plivo's documented runner
call, `POST https://phlorunner.plivo.com/v1/account/{auth_id}/phlo/{phlo_id}`,
which the design's "POST /phlo/{id}/run" is shorthand for. The Start node is
given `from` and `to` (E.164), and the notice's words of this window as the
other keys: `text` (the rendered voice template), `title`, `start`, `end`,
`duration`, `impact`, `link`. A PHLO uses them as liquid tags, such as
`{{Start.http.params.text}}` in a Speak node.

A run is paced like a call (it places one) and counts against the account's
calls per second, behind pages. Plivo answers with the run's id and has no
API to read a run back: a run whose answer was lost cannot be checked, so it
is recorded as failed (`unknown_outcome`) and never run again. A notice may
miss a person that way; it never calls them twice. A run Plivo accepted is
handed off: what the flow did next is in Plivo's console, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The key of a send's texts (shared.notices.store) holding its PHLO and words.
TEXTS_KEY = "phlo"
# Error code of a run whose answer was lost: it may or may not have run.
UNKNOWN_OUTCOME = "unknown_outcome"


def phlo_texts(phlo_id: str, values: Mapping[str, str], voice_text: str | None) -> dict[str, Any]:
    """What a send keeps for its PHLO runs, rendered once for every recipient."""
    variables = dict(values)
    if voice_text is not None:
        variables["text"] = voice_text
    return {"id": phlo_id, "variables": variables}


@dataclass(frozen=True, slots=True)
class PhloWords:
    phlo_id: str
    variables: dict[str, str]


def phlo_words(texts: Mapping[str, Any] | None) -> PhloWords | None:
    """The send's PHLO and its variables; None when its voice goes by direct calls."""
    kept = (texts or {}).get(TEXTS_KEY)
    if not isinstance(kept, Mapping) or not isinstance(kept.get("id"), str):
        return None
    variables = kept.get("variables")
    if not isinstance(variables, Mapping):
        variables = {}
    return PhloWords(kept["id"], {str(k): str(v) for k, v in variables.items()})
