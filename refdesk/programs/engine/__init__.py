"""The program engine: pure functions from facts and a program definition to a decision.

No database access and no Django models: the same code decides live referrals, replays history
in ``refdesk program simulate`` and feeds reports. ``decide()`` is total — any facts give a
decision, never an exception — and deterministic.
"""

from refdesk.programs.engine.business_time import (  # noqa: F401
    BusinessCalendar,
    add_business_time,
    business_time_between,
)
from refdesk.programs.engine.completeness import (  # noqa: F401
    business_time_elapsed,
    failed_check_items,
    missing_items,
)
from refdesk.programs.engine.decide import decide  # noqa: F401
from refdesk.programs.engine.types import (  # noqa: F401
    CheckResult,
    Decision,
    Facts,
    PrescreenResult,
    RouteResult,
)
