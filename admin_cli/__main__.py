"""``python -m admin_cli`` is the same as the ``n12315`` console script."""
from admin_cli.cli import main

main()
