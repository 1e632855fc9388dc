"""Pure decisions and data shapes: the event protocol, scoring, offer policy, frames.
No I/O and no imports from the layers above; each Lua decision has its twin here."""
