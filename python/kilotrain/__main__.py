import sys

from kilotrain.cli import main

sys.exit(main())
