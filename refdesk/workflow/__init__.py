"""The referral's lifecycle, owned in one place.

Every change to a referral's stage, outcome, queue or assignee goes through
``workflow.transitions.referral_transition`` (the action table, a conditional UPDATE, the audit
event in the same transaction); the services here are the only callers:

- ``submission``: ``referral_submit``, ``referral_complete`` (intake, the completion link);
- ``route``: ``referral_route``, ``referral_reevaluate``, ``referral_reroute``;
- ``assignment``: ``referral_assign``, ``referral_assign_next``, ``referral_claim``,
  ``referral_assign_to``;
- ``reviews``: ``review_approve``, ``review_reject``;
- ``closing``: ``referral_close``, ``referral_record_prescreen``, ``referral_update_answers``;
- ``contact``: ``lead_contact_check`` (gates every message), ``contact_attempt_log``,
  ``referral_request_info``;
- ``consent``: ``consent_record``, ``consent_withdraw``, ``consent_expire``;
- ``sla``: the first-response clock's pause and resume;
- ``messages``: ``message_check`` (the one check before every message), ``message_schedule``,
  ``message_send`` (staff); ``sending``: crash-safe delivery (claims, idempotent sends);
- ``followup``: ``followup_start`` (acknowledgement and timers after routing), the timers
  (attempts, closing unreachable, SLA warning, breach, escalation); ``pending`` stops them when a
  referral closes and releases them when a wait ends;
- ``delivery``: delivery reports, STOP replies and unsubscribe links; ``callbacks``: a lead's
  call-back request (programs that do not book appointments); ``content``: approvals about to
  end; ``sweep``: what ``refdesk worker`` runs between tasks; ``notifications``: the staff inbox.

Routing, consent and intake below decide and validate; interfaces above (desk, api, portal, cli)
parse, authorize, call one of these and render.
"""
