"""`sigmasight --help` and every subcommand's --help print usage and exit 0 (a '%' in a help text once made
argparse raise instead of printing the help)."""

from sigmasight_onboarding.cli import main


def _subcommands(capsys) -> list[str]:
    assert main(["--help"]) == 0  # main() returns the exit code (argparse's SystemExit is caught)
    out = capsys.readouterr().out
    assert out.startswith("usage: sigmasight")
    listed = out.split("{", 1)[1].split("}", 1)[0].split(",")
    assert {"onboard", "backfill", "status", "verify", "offboard", "prices"} <= set(listed)
    return listed


def test_every_help_page_prints(capsys):
    for command in _subcommands(capsys):
        assert main([command, "--help"]) == 0, command
        assert capsys.readouterr().out.startswith(f"usage: sigmasight {command}"), command
