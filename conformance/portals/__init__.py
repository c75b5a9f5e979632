"""The NHSmail portal and My Identity Portal on the harness side: their files made from the
test PKI and personas (`stack`), and the whole reference stack in this process (`world`)."""
