"""My Identity Portal ("Link My NHS Accounts", reference): the NHS Smartcard pre-registration
journey of the manual `001_ef8c786d5c0d317b.txt`, with its prerequisite checks and the link
rules of `reference_service.directory`."""
