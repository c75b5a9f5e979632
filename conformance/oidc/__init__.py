"""The OpenID Connect provider suite, and the helpers that run the reference provider."""
