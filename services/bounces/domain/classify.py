"""Classifying a mail that arrived at the bounce endpoint (placeholder until the parser lands)."""

from services.bounces.domain.feedback import Classification
from shared.contracts import FeedbackClass


def classify_message(raw: bytes) -> Classification:
    """Classify one whole mail (bytes as received). Never raises: anything unparseable is `unknown`."""
    return Classification(FeedbackClass.UNKNOWN, "placeholder")
