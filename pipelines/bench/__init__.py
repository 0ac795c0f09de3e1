"""Benchmarks (`make bench`), kept out of `make test`: speed is measured here, never by a timed unit test."""
