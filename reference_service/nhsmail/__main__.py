from reference_service.nhsmail.server import main

main()
