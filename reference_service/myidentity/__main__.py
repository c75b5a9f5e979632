from reference_service.directory.server import main

main()
