"""On-call schedules: who is on call at a moment, from rotations in the on-call file
and overrides kept in the database.

A schedule (`schedules:` in the file) has layers, each a rotation (members in
order, a shift length, a hand-off time, an IANA time zone, a start date) with
optional time-of-day / day-of-week restrictions; where two layers cover a
moment the higher one (later in the list) wins. An override ("Bob covers for
Alice from Friday 18:00 to Monday 09:00") is stored in the database and
applied on top.

Pure: every answer takes the moment (and the overrides) as arguments. May
import shared.core only; shared.routing imports this package for the file's
`schedules:` section and for step targets that name a schedule.
"""
