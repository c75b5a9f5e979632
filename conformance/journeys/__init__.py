"""The journeys suite: the two user manuals, step by step, in Chromium through the whole
reference stack, with a screenshot per step for the report's picture strips."""
