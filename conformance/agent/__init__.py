"""The agent suite: the Identity Agent's HTTP API, PIN dialog and removal policies, checked
against docs/signin-protocol.md. Run it with `pytest --pyargs conformance.agent` (the
reference agent on virtual cards) or `... --careid-agent URL --careid-agent-origin ORIGIN`."""
