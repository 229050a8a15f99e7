"""Browser walk through GridFlex in scripts/develop's Home Assistant (scripts/browser_test)."""
