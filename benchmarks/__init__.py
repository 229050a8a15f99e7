"""Benchmarks of GridFlex's meter-data path, run by hand (never by pytest or CI)."""
