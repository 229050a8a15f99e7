"""Tests of the HA-free platform clients."""
