"""Trade-condition rules: moved to :mod:`shared.market.conditions` (the market core owns them).

Kept as a re-export so callers outside the core (tests, tools) keep their import.
"""

from shared.market.conditions import CONDITIONS, condition_name, update_rules

__all__ = ["CONDITIONS", "condition_name", "update_rules"]
