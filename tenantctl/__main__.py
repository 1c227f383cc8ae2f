from tenantctl.cli.app import main

main()
