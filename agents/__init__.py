"""Faust agents, one module per agent: decode -> call online_models -> send/persist."""
