"""AGCH and its peer methods (docs/method.md)."""
