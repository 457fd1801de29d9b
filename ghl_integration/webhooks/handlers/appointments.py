"""Appointment events ("Appointment*" webhook docs; the docs' Update/Delete examples wrongly say
`AppointmentCreate`, real deliveries use their own name). No handler yet: the calendar issue registers them."""

from .base import HandlerRegistry

EVENTS = ("AppointmentCreate", "AppointmentUpdate", "AppointmentDelete")

registry = HandlerRegistry("appointments", events=EVENTS)
