"""`python -m vda_ros.tools.process_bag`: the tool without an installed entry point (tests, benchmarks)."""

import sys

from vda_ros.tools.process_bag.command import main

sys.exit(main())
