"""Which language the course speaks to the student: English, or French for the French edition.

``LABKIT_LANG`` (``en`` or ``fr``) decides; ``labkit lab --lang fr`` sets it. Without it, a kernel
started in ``notebooks/fr/`` speaks French: JupyterLab and nbval start a notebook's kernel in the
notebook's folder, so the two editions can share their code byte for byte (see
:mod:`labkit.notebook.edition`), and the consumer processes a French notebook starts speak French too.

:func:`tr` gives a message in that language. Like gettext's msgid, the English text is the key of the
French table (:mod:`labkit.lang_fr`): the code stays readable in English, and a message with no
translation yet falls back to English instead of failing. Format after translating:
``tr("{n} orders processed").format(n=3)``. Kafka's names (topics, configs, exceptions) and the API's
error messages stay as the module prints them.

>>> import os
>>> os.environ["LABKIT_LANG"] = "en"; tr("processed")
'processed'
>>> os.environ["LABKIT_LANG"] = "fr"; tr("processed")
'traité'
>>> del os.environ["LABKIT_LANG"]
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LANGUAGES", "LABELLED", "language", "tr"]

LANGUAGES = ("en", "fr")
# in a DataFrame's ``attrs``: its column labels are shown in the student's language (labkit.notebook.display),
# while code keeps indexing it by the English names
LABELLED = "labkit.labelled"


def language() -> str:
    """``en`` or ``fr``: ``LABKIT_LANG`` if set to one of them, else ``fr`` in a ``fr/`` folder, else ``en``."""
    chosen = os.environ.get("LABKIT_LANG", "").strip().lower()[:2]
    if chosen in LANGUAGES:
        return chosen
    try:
        return "fr" if Path.cwd().name == "fr" else "en"
    except OSError:  # the working directory was deleted under us
        return "en"


def tr(text: str) -> str:
    """``text`` (English) in the course's language; English when it has no translation."""
    if language() == "en":
        return text
    from labkit.lang_fr import FR

    return FR.get(text, text)
