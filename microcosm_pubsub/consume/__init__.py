"""The consuming side: envelope opened once, message beside its delivery, handler, outcome, settle."""
