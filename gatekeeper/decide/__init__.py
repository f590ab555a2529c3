"""The decision: a pure function of evidence and config (`decide`), and its typed record."""

from gatekeeper.decide.decision import Decision, Evidence, read_decision
from gatekeeper.decide.policy import decide

__all__ = ["Decision", "Evidence", "decide", "read_decision"]
