"""Operating a node (issue 16; CONTRACT §11, §13): the systemd unit, the readiness checks of
``doctor``, and backup and restore. Plain functions called by ``admin_cli/ops_cmds.py``."""
from node.ops.backup import describe, home_files, last_backup, make_backup, restore_backup, schema_version
from node.ops.doctor import run_checks
from node.ops.service import n12315_executable, render_unit

__all__ = ["describe", "home_files", "last_backup", "make_backup", "n12315_executable", "render_unit",
           "restore_backup", "run_checks", "schema_version"]
