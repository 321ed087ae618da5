"""The structure of emcrowd/cli/: option groups declared once and shared, small modules and functions."""

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

import emcrowd.cli
from emcrowd.cli import COMMANDS, app
from emcrowd.cli.options import InputOptions, ModelOptions, OutputOptions, option_groups

CLI_DIR = Path(emcrowd.cli.__file__).parent


def _options(command: str) -> set[str]:
    click_command = get_command(app).commands[command]  # type: ignore[attr-defined]
    return {opt for param in click_command.params for opt in (*param.opts, *param.secondary_opts)}


def _group_options(group: type) -> set[str]:
    hints = inspect.get_annotations(group, eval_str=True)
    out = set()
    for field in dataclasses.fields(group):
        (info,) = (m for m in hints[field.name].__metadata__ if isinstance(m, typer.models.OptionInfo))
        decls = (info.default, *info.param_decls)  # in Annotated, Option's first name sits in `default`
        out.update(d for decl in decls for d in decl.split("/") if d.startswith("-"))
    return out


@pytest.mark.parametrize(
    ("group", "commands"),
    [
        (InputOptions, ["fit", "compare", "info", "convert"]),
        (ModelOptions, ["fit", "compare"]),
        (OutputOptions, ["fit", "compare", "simulate", "convert"]),
    ],
)
def test_every_command_using_a_group_has_all_its_options(group, commands):
    wanted = _group_options(group)
    assert wanted
    for command in commands:
        assert wanted <= _options(command), (command, wanted - _options(command))


def test_a_field_added_to_a_group_reaches_the_command_as_the_built_group():
    @dataclasses.dataclass(frozen=True)
    class Extra:
        level: Annotated[int, typer.Option("--level", min=0)] = 3
        name: Annotated[str, typer.Option("--name")] = "x"

    seen = {}

    @option_groups
    def command(path: Annotated[str, typer.Argument()], *, extra: Extra, flag: bool = False) -> None:
        seen.update(path=path, extra=extra, flag=flag)

    probe = typer.Typer()
    probe.command()(command)
    probe.command("other")(lambda: None)
    res = CliRunner().invoke(probe, ["command", "p", "--level", "5", "--flag"])
    assert res.exit_code == 0, res.output
    assert seen == {"path": "p", "extra": Extra(level=5, name="x"), "flag": True}
    bad = CliRunner().invoke(probe, ["command", "p", "--level", "-1"])
    assert bad.exit_code == 2


def test_a_name_declared_twice_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Clash:
        quiet: bool = False

    with pytest.raises(TypeError, match="declared twice"):

        @option_groups
        def command(*, a: Clash, b: OutputOptions) -> None: ...


def test_modules_are_small_and_functions_take_few_positional_parameters():
    modules = sorted(CLI_DIR.glob("*.py"))
    assert {f"{name}.py" for name in COMMANDS} <= {p.name for p in modules}
    for path in modules:
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= 320, f"{path.name} has {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                positional = len(node.args.posonlyargs) + len(node.args.args)
                assert positional <= 6, f"{path.name}: {node.name} takes {positional} positional parameters"
