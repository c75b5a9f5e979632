"""ISO/IEC 7816-4 vocabulary shared by the card, the clients and the suites."""
