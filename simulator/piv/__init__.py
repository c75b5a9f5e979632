"""PIV (NIST SP 800-73-4) names shared by the card and its clients."""
