"""Domain errors: a rule of the procedure refused a command."""


class DomainError(Exception):
    """A command was refused by a rule of the procedure (CLI exit code 1, HTTP 409)."""


class IllegalTransition(DomainError):
    """The aggregate's current state does not allow this command."""


class CampaignAlreadyOpen(DomainError):
    """Rule 4.2: a version has at most one open campaign."""


class StepAlreadyClaimed(DomainError):
    """A campaign step is being run by another worker, whose claim has not lapsed."""


class FullRetrainingUnavailable(DomainError):
    """Rule 4.4: full retraining starts from the lineage's original training set, and there is none."""


class NotRestorable(DomainError):
    """Rule 4.8: only a version that was production before can be restored."""


class NotFound(Exception):
    """The named version, campaign, rollout or item does not exist (CLI exit code 3, HTTP 404)."""


class InvalidInput(Exception):
    """The input is malformed or out of range (CLI exit code 2, HTTP 422)."""
