from reference_service.cis2.server import main

main()
