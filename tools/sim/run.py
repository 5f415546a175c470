# run.py (host): start the unchanged firmware under the MicroPython unix port.
# DO NOT UPLOAD THIS FILE TO YOUR DEVICE. Used by tools/simulate.py.
# HANMQ_CONFIG names the settings file (default: config.json in the working directory).
import os
import sys

import app

if os.getenv("HANMQ_CONFIG"):
    app.CONFIG_PATH = os.getenv("HANMQ_CONFIG")
sys.exit(app.main())
