"""The `meshproof` command."""
