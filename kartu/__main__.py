import sys

from kartu.cli import main

sys.exit(main())
