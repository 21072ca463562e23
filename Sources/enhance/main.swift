import EnhanceCLI

EnhanceCommand.runFromCommandLine()
