"""``python -m supervisor``: the same as the ``live-monitor`` console script."""

from supervisor import main

main()
