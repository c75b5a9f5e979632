"""Added to `-f` when a run has a load shape (Locust uses the shape class it finds)."""

from loadtests.shapes import CareidShape

__all__ = ["CareidShape"]
