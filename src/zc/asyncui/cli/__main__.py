"""``python -m zc.asyncui.cli``: the same as the zc-asyncui script."""
import sys

from zc.asyncui.cli.main import main

sys.exit(main())
