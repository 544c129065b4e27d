"""The incident bridge: one Plivo conference per alert that responders join from their page.

A page call offers "3 to join the incident bridge" (INCIDENT_BRIDGE); the
keypress answers with `<Conference>` named after the alert (`alert-12`),
recorded when INCIDENT_BRIDGE_RECORD is set. Plivo's conference callbacks
(a member entered or left, the recording is ready) are verified like every
callback and land in the alert's timeline as `bridge.*` events, once each.
"""
