import EnhanceCLI

EnhanceCommand.main()
