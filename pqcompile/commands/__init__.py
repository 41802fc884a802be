"""Click commands, one module per stage; registered in pqcompile.cli.COMMAND_MODULES."""
