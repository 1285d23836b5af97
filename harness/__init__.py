"""meshproof's experiment harness: spec, load, faults, observation, analysis, verdicts, CLI."""
