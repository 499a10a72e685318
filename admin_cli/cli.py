"""The ``n12315`` command (CONTRACT §1-§4): one click group, a context object, commands by noun.

Every command reads the node home from ``--home`` or ``N12315_HOME`` (default
``./n12315-home``). Success exits 0; a failure prints one line on stderr and exits
non-zero — never a traceback. Read commands take ``--json`` and then print exactly one
JSON document.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from node.errors import NodeError


class Context:
    """What every command receives: the home, and the node once opened."""

    def __init__(self, home: str):
        self.home = Path(home)
        self._node = None

    def node(self, *, background_checkpoint: bool = False):
        if self._node is None:
            from node.home import open_node
            self._node = open_node(self.home, background_checkpoint=background_checkpoint)
        return self._node

    def close(self) -> None:
        if self._node is not None:
            self._node.close()


pass_ctx = click.make_pass_decorator(Context)


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", envvar="N12315_HOME", default="./n12315-home", show_default=True,
              help="节点目录 / node home directory (env N12315_HOME)")
@click.version_option(package_name="n12315")
@click.pass_context
def cli(ctx: click.Context, home: str) -> None:
    """n12315 — 全国12315行政执法体系联网节点 / federated 12315 network node.

    One node per bureau (总局, 省局, 地市局, 县局, 市场监管所). Start with `n12315 init`.
    """
    obj = Context(home)
    ctx.obj = obj
    ctx.call_on_close(obj.close)


def main() -> None:
    """Console entry point: turn every refusal into one line on stderr and a non-zero exit."""
    # Commands speak through their own output and one error line; the log is for `serve`
    # (which raises the level to its configured log_level) and for N12315_LOG_LEVEL=DEBUG.
    logging.basicConfig(level=os.environ.get("N12315_LOG_LEVEL", "CRITICAL"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cli.main(standalone_mode=False, prog_name="n12315")
    except click.exceptions.Abort:
        click.echo("已取消 / aborted", err=True)
        sys.exit(1)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except NodeError as exc:
        click.echo(f"错误 / error: {exc.message}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last guard: log it, tell the operator in one line
        logging.getLogger("n12315").debug("unexpected error", exc_info=True)
        click.echo(f"错误 / error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


def exit_code_for(exc: NodeError) -> int:
    return 2 if exc.status in (400, 422) else 1


def register_commands() -> None:
    from admin_cli import cases, demo, directives, federation_cmds, node_cmds, stats, sync_cmds, users
    for module in (node_cmds, users, federation_cmds, sync_cmds, cases, directives, stats, demo):
        module.register(cli)
    from admin_cli import open311_cmds  # issue 12 item 5
    open311_cmds.register(cli)
    from admin_cli import audit_cmds  # issue 13 item 4
    audit_cmds.register(cli)
    from admin_cli import ops_cmds  # issue 16; issue 13 item 7
    ops_cmds.register(cli)
    from admin_cli import privacy_cmds  # issue 13 item 1: key rotate-data
    privacy_cmds.register(cli)
    from admin_cli import import_cmds  # issue 15 item 3
    import_cmds.register(cli)


register_commands()
