"""Local deployment helpers shared by the demo, tests and benches: Tansu broker, the demo."""
