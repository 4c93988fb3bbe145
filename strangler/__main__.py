import sys

from strangler.control.cli import main

sys.exit(main())
