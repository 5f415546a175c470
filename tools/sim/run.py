# run.py (host): start the unchanged firmware under the MicroPython unix port.
# DO NOT UPLOAD THIS FILE TO YOUR DEVICE. Used by tools/simulate.py.
import sys

import app

sys.exit(app.main())
