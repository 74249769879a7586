"""``program simulate``: replay stored referrals through a draft definition, writing nothing.

A program owner changes a rule and wants to know, before ``program apply``, which past decisions
would come out differently. For every referral of the program (since a date) that has a stored
engine decision, the replay rebuilds the engine's facts from the stored referral (lead data
decrypted in memory only), asks the engine for the draft's decision and compares it with the
latest stored engine decision (initial or re-evaluation; manual re-routes are people overriding
the rules, not the rules themselves): route (queue and rule), qualification, prescreen outcome and
flags. Duplicates and referrals entered in error are skipped. The report names referrals by
reference only, never by patient data.

- ``stored``: the fast batch reads and the facts builder;
- ``replay``: ``program_simulate`` (read-only transaction, worker processes for large programs);
- ``report``: the grouped changes, their JSON document and the table.
"""

from refdesk.governance.simulation.replay import program_simulate
from refdesk.governance.simulation.report import ChangeGroup, SimulationReport, render_table
from refdesk.governance.simulation.stored import FactsBuilder

__all__ = ["ChangeGroup", "FactsBuilder", "SimulationReport", "program_simulate", "render_table"]
