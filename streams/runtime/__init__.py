"""The worker runtime: Faust channels and tables, model snapshot follower, outputs,
continuity (marks and gap filling), offsets, the live clock, and Faust private internals."""
