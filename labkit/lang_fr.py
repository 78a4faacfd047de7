"""The French messages of :func:`labkit.lang.tr`: English text (the key, exactly as in the code) -> French.

Natural technical French as the module writes it: Kafka's and the module's own terms stay as it keeps
them (*consumer group*, *rebalancing*, *offset*, DLT, ``ValidationException``). Every ``tr("...")``
of labkit has its entry here, and every entry is used (tests/unit/test_lang.py).
"""

FR: dict[str, str] = {
    "processed": "traité",
}
