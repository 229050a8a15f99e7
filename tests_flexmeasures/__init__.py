"""Contract tests against a real FlexMeasures 1.0.1 server (scripts/flexmeasures_server)."""
