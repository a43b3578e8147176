"""channelbill's benchmarks (quality.md, Performance), run by scripts/bench."""
