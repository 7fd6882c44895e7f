from inferplan.cli.main import run

run()
